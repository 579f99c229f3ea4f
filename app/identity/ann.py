"""The search index: FAISS over the descriptor table (``app.store.descriptor_table``), kept on disk beside the
store, extended with rows it has not seen and rebuilt when rows went away or the encoder changed.

Each track's descriptor becomes one vector ``[g, v_1 p_1, ..., v_P p_P] / sqrt(1 + sum v)``: the global feature and
the visible stripes, so that inner products approximate eq. 8's similarity (``reid_core.track_descriptors``). Wide
descriptors are first reduced by PCA (global to ``GLOBAL_DIMS``, stripes to ``PART_DIMS``, fitted on at
most ``TRAIN_ROWS`` tracks). Up to ``IVF_MIN`` tracks the index is exact (``IndexFlatIP``); beyond, an inverted
file of 8-bit codes (``IndexIVFScalarQuantizer``). Rankings are only candidate lists: search re-ranks them with
exact eq. 8 on the stored descriptors.

Where it lives (``index_dir``): for a SQLite store X.db, the folder X.faiss/ beside it (it goes with the store when
it is copied, and its owner-only mode with it); for a server database, a per-user cache folder named by a hash of
the URL without its password (``$REIDWATCH_CACHE_DIR/faiss/<hash>``). The index is a cache that any process can
rebuild: each machine serving a shared database keeps its own copy, and keeping hundreds of MiB of blobs in the
database would make every process read them over the wire at its first query. The first and last indexed rows
are checked against the store, so a cache left by another database at the same URL is not trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import UserError
from app.identity import npy_files
from app.identity.index_lock import folder_lock
from app.identity.reduction import (
    TRAIN_ROWS,
    Reducer,
    fit_reducer,
    read_projection,
    search_vectors,
    write_projection,
)
from app.store import Database
from app.store import descriptor_table as dt
from app.store import models as m
from app.store.records import as_utc
from reid_core import track_descriptors as lm
from reid_core.engines import cache_root

log = logging.getLogger(__name__)

FORMAT = 2
IVF_MIN = 50_000
TRAIN_SAMPLES = 160_000  # rows the inverted file's lists are learnt from (40 per list at a million tracks)
NPROBE = 24  # lists probed at least (linking's candidate pairs, one search per track, probe just these)
PROBE_SHARE = 0.05  # a search probes this share of the lists: 200 of 4,000 at a million tracks (recall@20 0.98)
_ARRAYS = ("track_ids", "row_ids", "camera", "t_start", "t_end", "vectors", "visibility")


def index_dir(db: Database) -> Path:
    """The folder of the store's index (see the module docstring for why there)."""
    url = db.engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        p = Path(str(url.database))
        return p.with_name(p.stem + ".faiss")
    key = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:20]  # no password
    return cache_root() / "faiss" / key


@dataclass
class AnnIndex:
    """One store's FAISS index and, per indexed row (its position), track id, camera, time span and reduced
    vector. Use under ``lock``."""

    folder: Path
    meta: dict = field(default_factory=dict)
    index: faiss.Index | None = None
    reducer: Reducer = field(default_factory=Reducer)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    checked: tuple[int, int] = (-1, -1)  # (max row id, epoch) last seen in the store
    mapped: bool = False  # an inverted file read memory-mapped (read-only): read in full before adding to it

    def __len__(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    @property
    def track_ids(self) -> np.ndarray:
        """(N,) int64 track id of each indexed position."""
        return self.arrays.get("track_ids", np.zeros(0, np.int64))

    def reduce(self, d: lm.TrackDescriptors) -> np.ndarray:
        """Query descriptors -> (N, D) search vectors (checks the sizes against the store's)."""
        dims = [d.global_feat.shape[1], *d.parts.shape[1:]]
        if self.meta.get("dims") and dims != self.meta["dims"]:
            raise UserError(f"query features have sizes {tuple(dims)} but the store's have "
                            f"{tuple(self.meta['dims'])}: embed with the encoder the store was built with")
        vec, vis = self.reducer.apply(d)
        return search_vectors(vec, vis)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None, *, nprobe: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """(Q, D) search vectors -> (Q, k) positions (-1: none) and similarities, best first. ``allowed`` (N,)
        bool keeps the others out; the inverted file probes ``nprobe`` lists (default: PROBE_SHARE of them), more
        when the rows let through are too few to fill k twice over on average."""
        if self.index is None or len(self) == 0:
            return np.full((len(queries), k), -1, np.int64), np.zeros((len(queries), k), np.float32)
        sel = None
        n_allowed = len(self)
        if allowed is not None:
            bits = np.packbits(allowed.astype(np.uint8), bitorder="little")
            sel = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
            n_allowed = max(1, int(allowed.sum()))
        params: Any
        if isinstance(self.index, faiss.IndexIVF):
            nlist = int(self.index.nlist)
            base = nprobe or max(NPROBE, math.ceil(PROBE_SHARE * nlist))
            probe = min(nlist, max(base, math.ceil(2 * k * nlist / n_allowed)))
            params = faiss.SearchParametersIVF(sel=sel, nprobe=probe)  # type: ignore[call-arg]
        else:
            params = faiss.SearchParameters(sel=sel)  # type: ignore[call-arg]
        few = len(queries) < 64  # one search: OpenMP threads cost more than they give (and thrash when busy)
        threads = faiss.omp_get_max_threads()
        if few:
            faiss.omp_set_num_threads(1)
        try:
            sim, pos = self.index.search(np.ascontiguousarray(queries, np.float32), k, params=params)
        finally:
            if few:
                faiss.omp_set_num_threads(threads)
        return pos.astype(np.int64), sim


# ---------------------------------------------------------------- persistence
def _save(ix: AnnIndex) -> None:
    """Write every file to a temporary name, then move it in place; meta.json last (it vouches for the rest).
    Mapped arrays are their files already (grown in place by ``_add``)."""
    ix.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = f".tmp{os.getpid()}"

    def put(name: str, write) -> None:  # noqa: ANN001
        target = ix.folder / name
        write(str(target) + tmp)
        os.replace(str(target) + tmp, target)
    index = ix.index
    if index is None:
        raise ValueError("nothing to save: the index is empty")
    put("index.faiss", lambda p: faiss.write_index(index, p))
    for key in ("glob", "part"):
        t = getattr(ix.reducer, key)
        if t is not None:
            put(f"pca_{key}.npz", lambda p, t=t: write_projection(p, t))
    def save_array(p: str, name: str) -> None:
        with open(p, "wb") as f:
            np.save(f, ix.arrays[name])
    for name in _ARRAYS:
        if not isinstance(ix.arrays[name], np.memmap):
            put(f"{name}.npy", lambda p, name=name: save_array(p, name))
    put("meta.json", lambda p: Path(p).write_text(json.dumps(ix.meta)))


def _load(folder: Path) -> AnnIndex | None:
    """The index stored in ``folder``, or None when absent, of another format or inconsistent (then rebuilt)."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("format") != FORMAT:
            return None
        # an inverted file is mapped, not read (a million tracks: 0.03 s instead of 1.5 s for the first query)
        mapped = str(meta.get("kind", "")).startswith("IndexIVF")
        index = faiss.read_index(str(folder / "index.faiss"), faiss.IO_FLAG_MMAP if mapped else 0)
        reducer = Reducer(*(read_projection(folder / f"pca_{k}.npz") if meta.get(f"pca_{k}") else None
                            for k in ("glob", "part")))
        # mapped, not read: a fresh process answers its first query without reading the vectors (linking does)
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        if (folder / "meta.json").exists():
            log.warning("search index at %s unreadable (%s): rebuilding it", folder, exc)
        return None
    n = int(index.ntotal)
    if n != meta.get("rows") or any(len(a) != n for a in arrays.values()):
        log.warning("search index at %s inconsistent: rebuilding it", folder)
        return None
    return AnnIndex(folder, meta, index, reducer, arrays, mapped=mapped)


# ---------------------------------------------------------------- building and extending
def _track_meta(s: Session, track_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows: dict[int, tuple] = {}
    ids = track_ids.tolist()
    for lo in range(0, len(ids), 5000):
        rows.update((r[0], r[1:]) for r in s.execute(select(m.Track.id, m.Track.camera_id, m.Track.start_time,
                                                            m.Track.end_time).where(m.Track.id.in_(ids[lo:lo + 5000]))))
    cam = np.array([rows[t][0] if t in rows else -1 for t in ids], np.int64)
    t0 = np.array([as_utc(rows[t][1]).timestamp() if t in rows else np.nan for t in ids], np.float64)
    t1 = np.array([as_utc(rows[t][2]).timestamp() if t in rows else np.nan for t in ids], np.float64)
    return cam, t0, t1


def _new_index(dim: int, n_expected: int, train: np.ndarray) -> faiss.Index:
    if n_expected < IVF_MIN:
        return faiss.IndexFlatIP(dim)
    nlist = max(1, min(16384, int(4 * math.sqrt(n_expected)), n_expected // 16))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                          faiss.METRIC_INNER_PRODUCT)
    index.train(np.ascontiguousarray(train))
    return index


def _rows(ix: AnnIndex, s: Session, row_ids: np.ndarray, track_ids: np.ndarray, d: lm.TrackDescriptors
          ) -> dict[str, np.ndarray]:
    """One block of descriptor rows as the index keeps them (reduced float16 vectors, camera, time span)."""
    vec, vis = ix.reducer.apply(d)
    cam, t0, t1 = _track_meta(s, track_ids)
    return {"track_ids": track_ids, "row_ids": row_ids, "camera": cam, "t_start": t0, "t_end": t1,
            "vectors": vec.astype(np.float16), "visibility": vis}


def _same_sizes(d: lm.TrackDescriptors, dims: list[int]) -> None:
    got = [d.global_feat.shape[1], *d.parts.shape[1:]]
    if got != dims:
        raise UserError(f"the store holds descriptors of different sizes ({dims} and {got}): tracks embedded with "
                        "different encoders or colour settings cannot be compared; re-embed the store with one "
                        "encoder (`reidwatch reembed`)")


def _add(ix: AnnIndex, blocks: list[dict[str, np.ndarray]]) -> None:
    """Add blocks made by ``_rows`` to the index and its arrays (one concatenation per array)."""
    if blocks and ix.mapped:  # a mapped inverted file cannot grow (faiss aborts): read it in full first
        ix.index, ix.mapped = faiss.read_index(str(ix.folder / "index.faiss")), False
    for b in blocks:
        ix.index.add(search_vectors(b["vectors"], b["visibility"]))  # type: ignore[union-attr]
    for k in _ARRAYS if blocks else ():
        tail, old, path = np.concatenate([b[k] for b in blocks]), ix.arrays.get(k), ix.folder / f"{k}.npy"
        if isinstance(old, np.memmap) and npy_files.append_rows(path, tail, len(old)):
            ix.arrays[k] = np.load(path, mmap_mode="r")  # the saved file grown in place: nothing copied
        else:
            ix.arrays[k] = tail if old is None else np.concatenate([old, tail])


def build(s: Session, folder: Path) -> AnnIndex:
    """A new index over every descriptor row, to be written to ``folder`` (no index when there are no rows). One
    pass over the table in blocks: only the reduced vectors are held (a million tracks: 640 MiB in float16); the
    PCA is fitted on the first TRAIN_ROWS rows, the inverted file's lists on the first TRAIN_SAMPLES."""
    _, n = dt.state(s)
    ix = AnnIndex(folder, {"format": FORMAT, "rows": 0, "last_row": 0, "epoch": dt.epoch(s)})
    blocks = dt.iter_blocks(s, block=20_000)
    first = next(blocks, None)
    if first is None:  # an empty store: nothing to index or save
        return ix
    row_ids, track_ids, d, tag = first
    ix.reducer = fit_reducer(d.take(np.arange(min(len(d), TRAIN_ROWS))))
    ix.meta.update(dims=[d.global_feat.shape[1], *d.parts.shape[1:]], model_tag=tag,
                   pca_glob=ix.reducer.glob is not None, pca_part=ix.reducer.part is not None)
    dim = ix.reducer.apply(d.take([0]))[0].shape[1]
    held = [_rows(ix, s, row_ids, track_ids, d)]
    del d
    for row_ids, track_ids, d, _ in blocks:
        _same_sizes(d, ix.meta["dims"])
        held.append(_rows(ix, s, row_ids, track_ids, d))
    if n < IVF_MIN:
        ix.index = faiss.IndexFlatIP(dim)
    else:  # the inverted file learns its lists from the first TRAIN_SAMPLES rows, then takes them all
        train, got = [], 0
        for b in held:
            if got >= TRAIN_SAMPLES:
                break
            train.append(search_vectors(b["vectors"], b["visibility"]))
            got += len(train[-1])
        ix.index = _new_index(dim, n, np.concatenate(train)[:TRAIN_SAMPLES])
        del train
    _add(ix, held)
    ix.meta.update(rows=len(ix), last_row=int(ix.arrays["row_ids"][-1]), kind=type(ix.index).__name__)
    log.info("search index built: %d tracks (%s, %d floats per track) in %s", len(ix), ix.meta["kind"],
             ix.index.d, folder)
    return ix


_INDEXES: dict[Path, AnnIndex] = {}
_INDEXES_LOCK = threading.Lock()


def _stale_reason(ix: AnnIndex, s: Session, hi: int, epoch: int) -> str | None:
    if ix.index is None:
        return "no index yet"
    if ix.meta.get("epoch") != epoch:
        return "descriptors were deleted or replaced (purge, re-ingest, re-embedding)"
    last = int(ix.meta.get("last_row", 0))
    if hi < last:
        return "rows it holds are gone"
    ends = (int(ix.arrays["row_ids"][0]), int(ix.arrays["track_ids"][0]), last, int(ix.arrays["track_ids"][-1]))
    if dt.row_tracks(s, [ends[0], ends[2]]) != [ends[1], ends[3]]:
        return "it was made for another store"
    kept = dt.count_upto(s, last)
    if kept != len(ix):
        return f"{len(ix) - kept} indexed rows are gone"
    tag = s.scalar(select(m.TrackDescriptor.model_tag).where(m.TrackDescriptor.id > last).limit(1))
    if tag is not None and ix.meta.get("model_tag") not in (None, tag):
        return f"the encoder changed ({ix.meta.get('model_tag')} -> {tag})"
    grown = ix.meta.get("kind") == "IndexFlatIP" and hi - last + len(ix) >= IVF_MIN
    return "the store outgrew an exact index" if grown else None


def index_for(db: Database) -> AnnIndex:
    """The store's index, loaded from disk at the first call of a process, brought up to date (new rows added;
    rebuilt when rows were deleted, replaced or re-embedded, or the files are unreadable) and saved back."""
    folder = index_dir(db)
    with _INDEXES_LOCK:
        ix = _INDEXES.get(folder)
        if ix is None:
            ix = _load(folder) or AnnIndex(folder)
            _INDEXES[folder] = ix
    with ix.lock, db.session() as s:
        hi, epoch = dt.max_id(s), dt.epoch(s)
        if (hi, epoch) == ix.checked:
            return ix
        with folder_lock(folder):  # one process at a time changes the files; take over what another saved
            _update(ix, s, folder, hi, epoch)
    return ix


def _update(ix: AnnIndex, s: Session, folder: Path, hi: int, epoch: int) -> None:
    """Bring ``ix`` up to date with the store and save it (under the folder lock): first take over the files
    another process saved since this one read them, then rebuild (``_stale_reason``) or add the new rows."""
    if _disk_meta(folder) not in (None, ix.meta) and (disk := _load(folder)) is not None:
        ix.meta, ix.index, ix.reducer, ix.arrays, ix.mapped = disk.meta, disk.index, disk.reducer, disk.arrays, \
            disk.mapped
    reason = _stale_reason(ix, s, hi, epoch)
    if reason is not None:
        log.info("search index for this store: %s; building it", reason)
        fresh = build(s, folder)
        ix.meta, ix.index, ix.reducer, ix.arrays, ix.mapped = fresh.meta, fresh.index, fresh.reducer, fresh.arrays, \
            False
        if ix.index is not None:
            _save(ix)
    elif hi > ix.meta["last_row"]:
        before, new = len(ix), []
        for row_ids, track_ids, d, _ in dt.iter_blocks(s, after_id=ix.meta["last_row"]):
            _same_sizes(d, ix.meta["dims"])
            new.append(_rows(ix, s, row_ids, track_ids, d))
        _add(ix, new)
        ix.meta.update(rows=len(ix), last_row=int(ix.arrays["row_ids"][-1]))
        _save(ix)
        log.debug("search index extended by %d tracks", len(ix) - before)
    ix.checked = (hi, epoch)


def _disk_meta(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None


def forget(db: Database) -> None:
    """Drop this process's copy and the files (tests, and a store deleted on purpose)."""
    folder = index_dir(db)
    with _INDEXES_LOCK:
        _INDEXES.pop(folder, None)
    shutil.rmtree(folder, ignore_errors=True)


def invalidate(db: Database) -> None:
    """Make every process's next search re-check its index (after a deletion outside the usual writers)."""
    with db.session() as s:
        dt.bump_epoch(s)
