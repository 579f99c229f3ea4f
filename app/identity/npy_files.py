"""Growing a saved ``.npy`` array in place: the search index's per-row arrays (``app.identity.ann``) take a few
new rows at a time, where writing the whole file again costs seconds at a million rows."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np


def append_rows(path: Path, tail: np.ndarray, old_len: int) -> bool:
    """Append ``tail`` to the array saved at ``path``, given that it holds ``old_len`` rows of tail's dtype and
    row shape: the new rows are written at its end, then the header is rewritten for the new length (same size:
    NumPy leaves room for the length to grow), so a reader never sees a length its file does not hold. False
    (nothing written) where the file is not such an array, or the header would change size: write it whole."""
    if len(tail) == 0:
        return False
    full_shape = (old_len + len(tail), *tail.shape[1:])
    try:
        with open(path, "r+b") as f:
            if np.lib.format.read_magic(f) != (1, 0):
                return False
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            start = f.tell()
            size = f.seek(0, io.SEEK_END)
            row_bytes = tail.dtype.itemsize * int(np.prod(tail.shape[1:], dtype=np.int64))
            if fortran or shape != (old_len, *tail.shape[1:]) or dtype != tail.dtype \
                    or size != start + old_len * row_bytes:
                return False
            meta = {"descr": np.lib.format.dtype_to_descr(tail.dtype), "fortran_order": False, "shape": full_shape}
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(header, meta)  # magic and header, as at the file's start
            if len(header.getvalue()) != start:
                return False
            f.write(np.ascontiguousarray(tail).tobytes())
            f.flush()
            f.seek(0)
            f.write(header.getvalue())
    except (OSError, ValueError):
        return False
    return True
