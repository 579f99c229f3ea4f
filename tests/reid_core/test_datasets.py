"""Dataset readers on tiny fake trees in the standard layouts, written with real JPEG/TIFF files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reid_core.datasets import DatasetError, ImageRecord, ReidDataset, dataset_names, load_dataset, relabel


def _write(path: Path, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix not in (".jpg", ".tif"):
        path.write_bytes(b"not an image")
        return
    pixels = np.random.default_rng(seed).integers(0, 255, (16, 8, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def _tree(root: Path, files: dict[str, list[str]]) -> Path:
    for i, (folder, names) in enumerate(files.items()):
        for j, name in enumerate(names):
            _write(root / folder / name, seed=100 * i + j)
    return root


MARKET = {
    "bounding_box_train": ["0002_c1s1_000451_03.jpg", "0002_c2s1_000551_01.jpg", "0007_c3s3_077419_03.jpg",
                           "0000_c1s1_000001_00.jpg", "-1_c1s1_000002_00.jpg"],
    "query": ["0003_c1s1_000001_00.jpg", "0005_c6s1_000002_00.jpg"],
    "bounding_box_test": ["0003_c2s1_000010_01.jpg", "0003_c1s1_000020_01.jpg", "0000_c3s1_000030_01.jpg",
                          "-1_c1s1_000040_01.jpg", "0005_c5s1_000050_01.jpg", "Thumbs.db"],
}


def test_market_parses_ids_cameras_and_relabels(tmp_path: Path) -> None:
    _tree(tmp_path / "Market-1501-v15.09.15", MARKET)
    ds = load_dataset("market1501", tmp_path)  # the parent folder is accepted too
    assert ds.root == tmp_path / "Market-1501-v15.09.15"
    # Train: junk (-1) and distractors (0) dropped, ids 2 and 7 relabelled to 0 and 1.
    assert sorted((r.path.name, r.pid, r.camid) for r in ds.train) == [
        ("0002_c1s1_000451_03.jpg", 0, 0), ("0002_c2s1_000551_01.jpg", 0, 1), ("0007_c3s3_077419_03.jpg", 1, 2)]
    assert ds.num_train_pids == 2
    assert sorted((r.pid, r.camid) for r in ds.query) == [(3, 0), (5, 5)]
    # Gallery keeps the original ids and the distractor (0); the junk image and non-images are skipped.
    assert sorted((r.pid, r.camid) for r in ds.gallery) == [(0, 2), (3, 0), (3, 1), (5, 4)]
    assert all(r.path.is_file() for r in ds.train + ds.query + ds.gallery)


@pytest.mark.parametrize("name, folder", [("dukemtmc", "DukeMTMC-reID"), ("occluded_duke", "Occluded_Duke")])
def test_duke_layouts(tmp_path: Path, name: str, folder: str) -> None:
    _tree(tmp_path / folder, {
        "bounding_box_train": ["0001_c2_f0046182.jpg", "0001_c8_f0046200.jpg", "0010_c1_f0000001.jpg"],
        "query": ["0011_c3_f0100000.jpg"],
        "bounding_box_test": ["0011_c4_f0100100.jpg", "0012_c8_f0000002.jpg"],
    })
    ds = load_dataset(name, tmp_path / folder)  # the dataset folder itself works as well
    assert ds.name == name
    assert sorted((r.pid, r.camid) for r in ds.train) == [(0, 1), (0, 7), (1, 0)]
    assert [(r.pid, r.camid) for r in ds.query] == [(11, 2)]
    assert sorted((r.pid, r.camid) for r in ds.gallery) == [(11, 3), (12, 7)]


def test_occluded_reid_per_id_folders(tmp_path: Path) -> None:
    _tree(tmp_path / "OccludedREID", {
        "occluded_body_images/001": ["001_01.tif", "001_02.tif"],
        "occluded_body_images/002": ["002_01.tif"],
        "whole_body_images/001": ["001_01.tif"],
        "whole_body_images/002": ["002_01.tif", "002_02.tif"],
    })
    ds = load_dataset("occluded_reid", tmp_path)
    assert ds.train == () and ds.num_train_pids == 0
    assert sorted((r.pid, r.camid) for r in ds.query) == [(1, 0), (1, 0), (2, 0)]
    assert sorted((r.pid, r.camid) for r in ds.gallery) == [(1, 1), (2, 1), (2, 1)]
    assert all(r.path.suffix == ".tif" for r in ds.query)


def test_partial_reid_flat_files(tmp_path: Path) -> None:
    _tree(tmp_path / "Partial-REID_Dataset", {
        "partial_body_images": ["001_01.jpg", "002_03.jpg"],
        "whole_body_images": ["001_01.jpg", "002_01.jpg", "003_05.jpg"],
    })
    ds = load_dataset("partial_reid", tmp_path)
    assert sorted(r.pid for r in ds.query) == [1, 2]
    assert sorted(r.pid for r in ds.gallery) == [1, 2, 3]
    assert {r.camid for r in ds.query} == {0} and {r.camid for r in ds.gallery} == {1}


def test_unknown_name_lists_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'viper'.*market1501.*occluded_duke"):
        load_dataset("viper", tmp_path)
    assert dataset_names() == ["dukemtmc", "market1501", "occluded_duke", "occluded_reid", "partial_reid"]


def test_missing_folder_is_named(tmp_path: Path) -> None:
    _tree(tmp_path / "Market-1501-v15.09.15", {"bounding_box_train": MARKET["bounding_box_train"]})
    with pytest.raises(DatasetError, match=r"expected folder 'query' in .*Market-1501-v15\.09\.15"):
        load_dataset("market1501", tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("market1501", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="expected folder 'occluded_body_images'"):
        load_dataset("occluded_reid", tmp_path)


def test_unparseable_file_name_and_empty_split(tmp_path: Path) -> None:
    files = dict(MARKET, query=["person_a.jpg"])
    _tree(tmp_path / "a", files)
    with pytest.raises(DatasetError, match="cannot read person id and camera from file name .*person_a.jpg"):
        load_dataset("market1501", tmp_path / "a")
    _tree(tmp_path / "b", MARKET)
    (tmp_path / "b" / "empty").mkdir()
    for f in (tmp_path / "b" / "query").iterdir():
        f.unlink()
    with pytest.raises(DatasetError, match="no images found in .*query"):
        load_dataset("market1501", tmp_path / "b")


def test_records_and_relabel_validate() -> None:
    recs, k = relabel([ImageRecord(path=Path("a"), pid=40, camid=0), ImageRecord(path=Path("b"), pid=7, camid=1)])
    assert k == 2 and [r.pid for r in recs] == [1, 0]
    with pytest.raises(ValueError, match="camid must be >= 0"):
        ImageRecord(path=Path("a"), pid=1, camid=-1)
    with pytest.raises(ValueError, match="relabelled"):
        ReidDataset(name="x", root=Path("."), train=(ImageRecord(path=Path("a"), pid=5, camid=0),), query=(),
                    gallery=(), num_train_pids=1)
