"""Readers for the standard person re-identification datasets.

Each reader parses a dataset's folder layout and file names into frozen
:class:`ImageRecord` values and returns a :class:`ReidDataset`. Nothing is
downloaded and no image is opened here: the readers only list files.

Supported layouts (``root`` may be the dataset folder itself or its parent)::

    market1501     Market-1501-v15.09.15/{bounding_box_train,query,bounding_box_test}/0002_c1s1_000451_03.jpg
    dukemtmc       DukeMTMC-reID/{bounding_box_train,query,bounding_box_test}/0001_c2_f0046182.jpg
    occluded_duke  Occluded_Duke/{bounding_box_train,query,bounding_box_test}/0001_c2_f0046182.jpg
    occluded_reid  OccludedREID/{occluded_body_images,whole_body_images}/001/001_01.tif
    partial_reid   Partial-REID_Dataset/{partial_body_images,whole_body_images}/001_01.jpg

Conventions, as in the standard evaluation code: person id -1 marks junk images
and is dropped; id 0 (Market-1501 distractors) is kept in the gallery, where it
never matches a query. Camera ids are 0-based. Training ids are relabelled to
``0 .. num_train_pids - 1`` in ascending order of the original id. Occluded-REID
and Partial-REID are test-only sets: queries are the occluded/partial images
(camera 0), the gallery the whole-body images (camera 1), and the train split is
empty.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})
_PID_CAM = re.compile(r"^(-?\d+)_c(\d+)")
_LEADING_ID = re.compile(r"^(\d+)")


class DatasetError(Exception):
    """A dataset folder is missing, empty or not in the expected layout."""


@dataclass(frozen=True)
class ImageRecord:
    """One person image: ``path`` to the file, person id ``pid`` and 0-based camera id ``camid``."""

    path: Path
    pid: int
    camid: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if not isinstance(self.pid, int) or not isinstance(self.camid, int):
            raise TypeError(f"pid and camid must be int, got {type(self.pid).__name__}, {type(self.camid).__name__}")
        if self.camid < 0:
            raise ValueError(f"camid must be >= 0, got {self.camid}")


@dataclass(frozen=True)
class ReidDataset:
    """A dataset split into train / query / gallery.

    ``train`` pids are relabelled to ``0 .. num_train_pids - 1``; ``query`` and
    ``gallery`` keep the original ids. ``root`` is the dataset folder that was read.
    """

    name: str
    root: Path
    train: tuple[ImageRecord, ...]
    query: tuple[ImageRecord, ...]
    gallery: tuple[ImageRecord, ...]
    num_train_pids: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        for split in ("train", "query", "gallery"):
            object.__setattr__(self, split, tuple(getattr(self, split)))
        labels = {r.pid for r in self.train}
        if labels != set(range(self.num_train_pids)):
            raise ValueError(
                f"train pids must be relabelled to 0..{self.num_train_pids - 1}, "
                f"got {len(labels)} distinct ids in [{min(labels, default=0)}, {max(labels, default=0)}]"
            )

    def summary(self) -> str:
        """One line with the split sizes, for logs."""
        def ids(split: tuple[ImageRecord, ...]) -> int:
            return len({r.pid for r in split})

        return (
            f"{self.name}: train {len(self.train)} images / {self.num_train_pids} ids, "
            f"query {len(self.query)} / {ids(self.query)} ids, gallery {len(self.gallery)} / {ids(self.gallery)} ids"
        )


def relabel(records: Iterable[ImageRecord]) -> tuple[tuple[ImageRecord, ...], int]:
    """Map the pids of ``records`` to ``0 .. K-1`` (ascending original id); return (records, K)."""
    records = tuple(records)
    mapping = {pid: i for i, pid in enumerate(sorted({r.pid for r in records}))}
    return tuple(ImageRecord(path=r.path, pid=mapping[r.pid], camid=r.camid) for r in records), len(mapping)


def _image_files(folder: Path, *, recursive: bool = False) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _resolve_root(root: Path, name: str, required: tuple[str, ...], subdirs: tuple[str, ...]) -> Path:
    """Find the folder holding ``required``: ``root`` itself or one of ``root/<subdir>``."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{name}: root folder {root} does not exist")
    for candidate in (root, *(root / s for s in subdirs)):
        if all((candidate / r).is_dir() for r in required):
            return candidate
    # Name the first missing folder in the most likely place.
    base = next((root / s for s in subdirs if (root / s).is_dir()), root)
    missing = next(r for r in required if not (base / r).is_dir())
    alternatives = ", ".join(str(root / s) for s in subdirs)
    raise DatasetError(
        f"{name}: expected folder '{missing}' in {base}"
        + (f" (also looked in {alternatives})" if alternatives else "")
    )


def _parse_pid_cam_split(folder: Path, name: str, *, max_cam: int) -> list[ImageRecord]:
    records = []
    for path in _image_files(folder):
        match = _PID_CAM.match(path.name)
        if match is None:
            raise DatasetError(f"{name}: cannot read person id and camera from file name {path}")
        pid, cam = int(match.group(1)), int(match.group(2))
        if pid == -1:  # junk image
            continue
        if not 1 <= cam <= max_cam:
            raise DatasetError(f"{name}: camera {cam} out of range 1..{max_cam} in {path}")
        records.append(ImageRecord(path=path, pid=pid, camid=cam - 1))
    if not records:
        raise DatasetError(f"{name}: no images found in {folder}")
    return records


def _market_like(name: str, subdirs: tuple[str, ...], max_cam: int) -> Callable[[Path], ReidDataset]:
    required = ("bounding_box_train", "query", "bounding_box_test")

    def read(root: Path) -> ReidDataset:
        base = _resolve_root(Path(root), name, required, subdirs)
        train_raw = [r for r in _parse_pid_cam_split(base / "bounding_box_train", name, max_cam=max_cam) if r.pid != 0]
        train, num_pids = relabel(train_raw)
        query = _parse_pid_cam_split(base / "query", name, max_cam=max_cam)
        gallery = _parse_pid_cam_split(base / "bounding_box_test", name, max_cam=max_cam)
        dataset = ReidDataset(
            name=name, root=base, train=train, query=tuple(query), gallery=tuple(gallery), num_train_pids=num_pids
        )
        log.info("%s", dataset.summary())
        return dataset

    read.__doc__ = f"Read {name} from ``root`` (the dataset folder or its parent)."
    return read


def _pid_from(path: Path, folder: Path, name: str) -> int:
    # Per-identity sub-folders (``001/001_01.tif``) name the id; flat layouts carry it in the file name.
    rel = path.relative_to(folder)
    token = rel.parts[0] if len(rel.parts) > 1 else path.name
    match = _LEADING_ID.match(token)
    if match is None:
        raise DatasetError(f"{name}: cannot read a person id from {path}")
    return int(match.group(1))


def _query_whole(name: str, query_dir: str, subdirs: tuple[str, ...]) -> Callable[[Path], ReidDataset]:
    required = (query_dir, "whole_body_images")

    def read(root: Path) -> ReidDataset:
        base = _resolve_root(Path(root), name, required, subdirs)
        splits = []
        for camid, folder in enumerate((base / query_dir, base / "whole_body_images")):
            files = _image_files(folder, recursive=True)
            if not files:
                raise DatasetError(f"{name}: no images found in {folder}")
            splits.append(tuple(ImageRecord(path=p, pid=_pid_from(p, folder, name), camid=camid) for p in files))
        dataset = ReidDataset(name=name, root=base, train=(), query=splits[0], gallery=splits[1], num_train_pids=0)
        log.info("%s", dataset.summary())
        return dataset

    read.__doc__ = f"Read the test-only set {name} from ``root`` (the dataset folder or its parent)."
    return read


READERS: dict[str, Callable[[Path], ReidDataset]] = {
    "market1501": _market_like("market1501", ("Market-1501-v15.09.15", "Market-1501", "market1501"), max_cam=6),
    "dukemtmc": _market_like("dukemtmc", ("DukeMTMC-reID", "dukemtmc-reid", "dukemtmc"), max_cam=8),
    "occluded_duke": _market_like("occluded_duke", ("Occluded_Duke", "Occluded-Duke", "occluded_duke"), max_cam=8),
    "occluded_reid": _query_whole(
        "occluded_reid", "occluded_body_images", ("OccludedREID", "Occluded_REID", "Occluded-REID", "occluded_reid")
    ),
    "partial_reid": _query_whole(
        "partial_reid", "partial_body_images", ("Partial-REID_Dataset", "Partial_REID", "Partial-REID", "partial_reid")
    ),
}


def dataset_names() -> list[str]:
    """The names accepted by :func:`load_dataset`."""
    return sorted(READERS)


def load_dataset(name: str, root: str | Path) -> ReidDataset:
    """Read dataset ``name`` from ``root``.

    Raises :class:`DatasetError` for an unknown name (listing the valid ones), a
    missing folder (naming it) or a file name that does not parse.
    """
    reader = READERS.get(name)
    if reader is None:
        raise DatasetError(f"unknown dataset {name!r}; valid names: {', '.join(dataset_names())}")
    return reader(Path(root))
