"""UI test fixtures: a real SQLite store over real video files, filled without any model.

Camera ``entrance`` is the ``vtest_clip`` (40 frames of vtest.avi) with three people whose boxes are
hand-placed; camera ``lobby`` is a synthetic video written with cv2.VideoWriter with two people. Thumbnails
are real JPEG crops of those frames; embeddings are structured vectors (one centre per person plus noise)
so that a search ranks the same person first.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import ui.app  # noqa: E402,F401 - fixes the Qt plugin environment before pytest-qt creates the QApplication

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
FPS = 7.0
N_FRAMES = 40


@dataclass(frozen=True)
class UiStore:
    path: Path
    sources: dict[str, int]  # camera -> source id
    tracks: dict[str, int]  # "entrance/1" -> track id
    identities: dict[str, int]  # "alice" -> identity id
    matches: dict[str, int]  # "bob-cross" -> match id
    boxes: dict[str, tuple[float, float, float, float]]  # track key -> box on every frame


def _lobby_video(path: Path) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (320, 240))
    for i in range(N_FRAMES):
        frame = np.full((240, 320, 3), 90, np.uint8)
        cv2.rectangle(frame, (40 + i, 60), (80 + i, 180), (40, 40, 200), -1)  # person 1: red
        cv2.rectangle(frame, (200, 50), (245, 190), (200, 120, 30), -1)  # person 2: blue
        writer.write(frame)
    writer.release()
    return path


def build_ui_store(db_path: Path, entrance_video: Path, lobby_video: Path) -> UiStore:
    import cv2

    from app.store import models as m
    from app.store import open_database, repo
    from app.store.records import ObservationRecord

    rng = np.random.default_rng(7)
    centres = {p: rng.standard_normal(16).astype(np.float32) for p in ("alice", "bob", "carol", "dave")}
    part_centres = {p: rng.standard_normal((3, 8)).astype(np.float32) for p in centres}
    layout = {  # track key -> (camera, person, box on every frame, frames)
        "entrance/1": ("entrance", "alice", (100.0, 150.0, 160.0, 330.0), range(0, 40)),
        "entrance/2": ("entrance", "bob", (400.0, 120.0, 450.0, 280.0), range(0, 40)),
        "entrance/3": ("entrance", "carol", (600.0, 300.0, 660.0, 470.0), range(10, 30)),
        "lobby/1": ("lobby", "alice", (40.0, 60.0, 80.0, 180.0), range(0, 40)),
        "lobby/2": ("lobby", "bob", (200.0, 50.0, 245.0, 190.0), range(5, 40)),
    }
    videos = {"entrance": entrance_video, "lobby": lobby_video}
    starts = {"entrance": T0, "lobby": T0 + timedelta(minutes=5)}
    db = open_database(db_path)
    sources: dict[str, int] = {}
    tracks: dict[str, int] = {}
    kps = np.zeros((17, 3), np.float32)
    with db.session() as s:
        for cam, video in videos.items():
            c = repo.get_or_create_camera(s, cam)
            cap = cv2.VideoCapture(str(video))
            ok, first = cap.read()
            cap.release()
            assert ok
            h, w = first.shape[:2]
            src = repo.create_source(s, camera_id=c.id, uri=str(video), content_hash=None, start_time=starts[cam],
                                     fps=FPS, frame_count=N_FRAMES, width=w, height=h, settings={})
            repo.set_source_progress(s, src.id, frames_done=N_FRAMES, status="complete")
            sources[cam] = src.id
            for key, (kcam, person, box, frames) in layout.items():
                if kcam != cam:
                    continue
                local = int(key.split("/")[1])
                t = starts[cam] + timedelta(seconds=frames[0] / FPS)
                tid = repo.create_track(s, source_id=src.id, camera_id=c.id, local_id=local, frame=frames[0], t=t)
                x1, y1, x2, y2 = (int(v) for v in box)
                kp = kps.copy()
                kp[:, 0] = np.linspace(x1, x2, 17)
                kp[:, 1] = np.linspace(y1, y2, 17)
                kp[:, 2] = 0.9
                repo.add_observations(s, [
                    ObservationRecord(tid, f, starts[cam] + timedelta(seconds=f / FPS), box, 0.9, kp, False)
                    for f in frames])
                ok, jpeg = cv2.imencode(".jpg", cv2.resize(first[y1:y2, x1:x2], None, fx=128 / (y2 - y1),
                                                           fy=128 / (y2 - y1)))
                repo.set_thumbnail(s, tid, jpeg.tobytes())
                g = centres[person] + 0.05 * rng.standard_normal((3, 16)).astype(np.float32)
                parts = part_centres[person] + 0.05 * rng.standard_normal((3, 3, 8)).astype(np.float32)
                repo.add_embeddings(s, tid, [frames[0], frames[5], frames[10]], [0.9, 0.8, 0.7], g, parts,
                                    np.ones((3, 3), bool), "pgfa;parts=3")
                tracks[key] = tid
        now = datetime(2026, 11, 27, 9, 0)
        idents = {}
        for name, label in (("alice", "Alice"), ("bob", None), ("bob-lobby", None), ("carol", None)):
            ident = m.Identity(name=label, watch=0, created_at=now)
            s.add(ident)
            s.flush()
            idents[name] = ident.id
        members = {"entrance/1": "alice", "lobby/1": "alice", "entrance/2": "bob", "lobby/2": "bob-lobby",
                   "entrance/3": "carol"}
        for key, ident_key in members.items():
            s.get(m.Track, tracks[key]).identity_id = idents[ident_key]
        matches = {}
        for mkey, a, b, dist, kind, status in (
            ("bob-cross", "entrance/2", "lobby/2", 0.21, "cross_camera", "auto"),
            ("carol-bob", "entrance/3", "entrance/2", 0.47, "reentry", "auto"),
            ("alice-cross", "entrance/1", "lobby/1", 0.12, "cross_camera", "confirmed"),
        ):
            row = m.Match(run_id=None, track_a=tracks[a], track_b=tracks[b], distance=dist, kind=kind, status=status)
            s.add(row)
            s.flush()
            matches[mkey] = row.id
    db.close()
    return UiStore(db_path, sources, tracks, idents, matches, {k: v[2] for k, v in layout.items()})


@pytest.fixture(scope="session")
def ui_store_template(tmp_path_factory: pytest.TempPathFactory, vtest_clip: Path) -> UiStore:
    root = tmp_path_factory.mktemp("ui-store")
    return build_ui_store(root / "template.db", vtest_clip, _lobby_video(root / "lobby.avi"))


@pytest.fixture()
def ui_store(tmp_path: Path, ui_store_template: UiStore) -> UiStore:
    """A fresh copy of the store for one test (tests change it)."""
    import shutil

    path = tmp_path / "ui.db"
    for suffix in ("", "-wal"):
        src = Path(str(ui_store_template.path) + suffix)
        if src.exists():
            shutil.copyfile(src, str(path) + suffix)
    return UiStore(path, ui_store_template.sources, ui_store_template.tracks, ui_store_template.identities,
                   ui_store_template.matches, ui_store_template.boxes)


@pytest.fixture(autouse=True)
def _collect_on_the_gui_thread() -> Iterator[None]:
    """The application collects garbage on the GUI thread only (ui.collector); after each test its collector
    stops: what the test left behind (its windows' Python-owned Qt objects) dies here, on the main thread, and
    the tests after it run with Python's own collection until a window is built again."""
    yield
    from PySide6.QtCore import QCoreApplication

    from ui.collector import MainThreadCollector

    app = QCoreApplication.instance()
    collector = app.findChild(MainThreadCollector) if app is not None else None
    if collector is not None:
        collector.stop()  # collects, on this (the main) thread
    else:
        gc.collect()
