"""Saved index arrays grow in place: the file then loads as the whole array, a reader mapping the old length
keeps its rows, and a file that is not the array's beginning is left alone (the caller writes it whole)."""

from __future__ import annotations

import numpy as np

from app.identity.npy_files import append_rows


def test_rows_are_appended_in_place_and_the_file_loads_whole(tmp_path):
    path = tmp_path / "a.npy"
    full = np.arange(999_990 * 2, dtype=np.float16).reshape(-1, 2)[:12]
    np.save(path, full[:9])
    mapped = np.load(path, mmap_mode="r")
    assert append_rows(path, full[9:], 9)
    assert np.array_equal(np.load(path), full)
    assert np.array_equal(mapped, full[:9])  # an earlier reader's view is untouched
    big = np.arange(2_000_000, dtype=np.int64)  # the length gains digits: the header keeps its size
    np.save(path, big[:999_999])
    assert append_rows(path, big[999_999:], 999_999) and np.array_equal(np.load(path, mmap_mode="r"), big)


def test_a_file_that_is_not_the_arrays_beginning_is_left_alone(tmp_path):
    path = tmp_path / "a.npy"
    full = np.arange(20, dtype=np.int64)
    np.save(path, full[:10])
    before = path.read_bytes()
    assert not append_rows(path, full[15:], 15)  # the file holds 10 rows, not 15
    assert not append_rows(path, full[10:].astype(np.int32), 10)  # another dtype
    assert not append_rows(path, full[:0], 10) and not append_rows(tmp_path / "missing.npy", full[10:], 10)
    assert path.read_bytes() == before
