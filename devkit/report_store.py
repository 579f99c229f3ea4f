"""A small, fully known store for report tests, written through the real repository functions.

Two cameras (``entrance``: a video file; ``lobby``: an RTSP source whose stored URI still carries credentials,
which the report must redact), eight tracks at 10 fps from 2026-11-27 10:00:00 UTC, four identities:

====  ========  ========  =================  =====  ========================================================
track camera    identity  time (10:mm:ss)    n_obs  matches (latest row per pair)
====  ========  ========  =================  =====  ========================================================
1     entrance  1 Alice   00:00 - 00:05      51     1-2 reentry 0.21 auto (run 2; run 1 said 0.25)
2     entrance  1 Alice   00:20 - 00:30      101    2-3 cross_camera 0.31 confirmed by op.smith
3     lobby     1 Alice   01:00 - 01:12      121
4     lobby     2 <script> 02:00 - 02:04     41     4-5 cross_camera 0.40 rejected by op.smith
5     entrance  3 (none)  03:00 - 03:10      101    5-6 cross_camera 0.35 auto (a confirm by op.jones undone)
6     lobby     3 (none)  03:30 - 03:40      101
7     entrance  (none)    04:00 - 04:02      21     not linked: never reported
8     lobby     4 Bob     30:00 - 30:08      81
====  ========  ========  =================  =====  ========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import update

from app.store import Database, open_database, repo
from app.store import models as m
from app.store.records import ObservationRecord

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
FPS = 10.0
MODEL_TAG = "pgfa;backbone=mobilenetv2;source=imagenet;parts=3"
SCRIPT_NAME = '<script>alert("x")</script>'
ENTRANCE_URI = "/home/operator/videos/entrance-2026-11-27.avi"
LOBBY_URI = "rtsp://admin:hunter2@10.0.0.5:554/live?token=abc123"

# track id -> (camera, local id, identity, first frame, last frame, best embedding quality)
TRACKS = {
    1: ("entrance", 1, 1, 0, 50, 0.9),
    2: ("entrance", 2, 1, 200, 300, 0.7),
    3: ("lobby", 1, 1, 600, 720, 0.8),
    4: ("lobby", 2, 2, 1200, 1240, 0.6),
    5: ("entrance", 3, 3, 1800, 1900, 0.8),
    6: ("lobby", 3, 3, 2100, 2200, 0.8),
    7: ("entrance", 4, None, 2400, 2420, 0.5),
    8: ("lobby", 4, 4, 18000, 18080, 0.7),
}
IDENTITIES = {1: ("Alice", 1), 2: (SCRIPT_NAME, 0), 3: (None, 0), 4: ("Bob", 0)}


def _t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _naive(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc).replace(tzinfo=None)


def build_small_store(path: Path, thumbnails: Mapping[int, bytes] | None = None) -> Database:
    """Create the store described in the module docstring at ``path``; ``thumbnails`` maps track -> JPEG."""
    db = open_database(path)
    rng = np.random.default_rng(7)
    with db.session() as s:
        cams = {name: repo.get_or_create_camera(s, name, kind=kind, url_redacted=url)
                for name, kind, url in (("entrance", "file", None),
                                        ("lobby", "rtsp", "rtsp://***@10.0.0.5:554/live?token=***"))}
        sources = {
            "entrance": repo.create_source(s, camera_id=cams["entrance"].id, uri=ENTRANCE_URI, content_hash="e1",
                                           start_time=T0, fps=FPS, frame_count=3000, width=768, height=576,
                                           settings={}),
            "lobby": repo.create_source(s, camera_id=cams["lobby"].id, uri=LOBBY_URI, content_hash=None,
                                        start_time=T0, fps=FPS, frame_count=18100, width=768, height=576,
                                        settings={}),
        }
        for src in sources.values():
            repo.set_source_progress(s, src.id, frames_done=src.frame_count, status="complete")
        for ident_id, (name, watch) in IDENTITIES.items():
            s.add(m.Identity(id=ident_id, name=name, watch=watch, created_at=_naive(T0)))
        s.flush()
        kps = np.zeros((17, 3), np.float32)
        for tid, (cam, local, ident, f0, f1, quality) in TRACKS.items():
            src = sources[cam]
            made = repo.create_track(s, source_id=src.id, camera_id=src.camera_id, local_id=local, frame=f0,
                                     t=_t(f0 / FPS))
            if made != tid:
                raise RuntimeError(f"expected track id {tid}, the store gave {made}")
            repo.add_observations(s, [
                ObservationRecord(tid, f, _t(f / FPS), (10.0, 20.0, 40.0, 100.0), 0.8, kps, False)
                for f in range(f0, f1 + 1)
            ])
            repo.add_embeddings(s, tid, [f0, f1], [quality - 0.1, quality], rng.standard_normal((2, 16)),
                                rng.standard_normal((2, 3, 8)), np.ones((2, 3), bool), MODEL_TAG)
            if ident is not None:
                s.execute(update(m.Track).where(m.Track.id == tid).values(identity_id=ident))
            if thumbnails and tid in thumbnails:
                repo.set_thumbnail(s, tid, thumbnails[tid])
        run1 = m.LinkRun(at=_naive(_t(3000)), threshold=0.45, params={"max_speed_px_s": 400.0}, stats={"links": 2})
        run2 = m.LinkRun(at=_naive(_t(4200)), threshold=0.42, params={"max_speed_px_s": 400.0},
                         stats={"identities": 4, "links": 3})
        s.add_all([run1, run2])
        s.flush()
        s.add_all([
            m.Match(run_id=run1.id, track_a=1, track_b=2, distance=0.25, kind="reentry", status="auto"),
            m.Match(run_id=run1.id, track_a=2, track_b=3, distance=0.33, kind="cross_camera", status="auto"),
            m.Match(run_id=run2.id, track_a=2, track_b=1, distance=0.21, kind="reentry", status="auto"),
            m.Match(run_id=run2.id, track_a=2, track_b=3, distance=0.31, kind="cross_camera", status="confirmed"),
            m.Match(run_id=run2.id, track_a=5, track_b=6, distance=0.35, kind="cross_camera", status="auto"),
            m.Match(run_id=run2.id, track_a=4, track_b=5, distance=0.40, kind="cross_camera", status="rejected"),
        ])
        s.add_all([
            m.Decision(kind="confirm", track_a=3, track_b=2, who="op.smith", at=_naive(_t(3600))),
            m.Decision(kind="reject", track_a=4, track_b=5, who="op.smith", at=_naive(_t(3900))),
            m.Decision(kind="confirm", track_a=5, track_b=6, who="op.jones", at=_naive(_t(4000)), undone=1),
            m.Decision(kind="rename", identity_id=1, value="Alice", who="op.smith", at=_naive(_t(3700))),
        ])
        repo.put_setting(s, "link.threshold", {"value": 0.42, "calibrated": True})
    return db


# track -> (PETS09 ground-truth person, ground-truth frame): the same person for the tracks of one identity
VTEST_PEOPLE = {1: (9, 30), 2: (9, 120), 3: (9, 260), 4: (13, 100), 5: (11, 60), 6: (11, 300), 7: (15, 40),
                8: (12, 200)}


def vtest_thumbnails(vtest: Path, gt: Path, people: Mapping[int, tuple[int, int]] = VTEST_PEOPLE) -> dict[int, bytes]:
    """track -> JPEG of the person cut from vtest.avi at the ground-truth box, 128 px tall like ingest makes."""
    import cv2

    boxes: dict[tuple[int, int], tuple[float, float, float, float]] = {}
    for line in gt.read_text().splitlines():
        f, pid, x, y, w, h = (float(v) for v in line.split(",")[:6])
        boxes[int(f), int(pid)] = (x, y, w, h)
    cap = cv2.VideoCapture(str(vtest))
    out: dict[int, bytes] = {}
    try:
        for tid, (pid, frame) in people.items():
            cap.set(cv2.CAP_PROP_POS_FRAMES, frame - 1)  # ground-truth frames count from 1
            ok, img = cap.read()
            if not ok or (frame, pid) not in boxes:
                raise RuntimeError(f"no frame {frame} / person {pid} in {vtest.name}")
            x, y, w, h = boxes[frame, pid]
            x0, y0 = max(int(x - 0.1 * w), 0), max(int(y - 0.05 * h), 0)
            x1, y1 = min(int(x + 1.1 * w), img.shape[1]), min(int(y + 1.05 * h), img.shape[0])
            crop = img[y0:y1, x0:x1]
            crop = cv2.resize(crop, (max(1, round(crop.shape[1] * 128 / crop.shape[0])), 128))
            ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 88])
            out[tid] = buf.tobytes()
    finally:
        cap.release()
    return out


SYNTHETIC_CAMERAS = ("gate", "hall", "lift", "yard")


def build_synthetic_store(
    path: Path, n_identities: int, *, seed: int = 0, thumbnails: list[bytes] | None = None
) -> Database:
    """A store of ``n_identities`` people seen 1-4 times across four cameras over eight hours.

    Written with bulk inserts (tracks, one embedding sample each, matches, one linking run) so that thousands
    of identities take a second or two. Each identity's consecutive sightings are joined by a match: about
    one in five confirmed, the rest automatic; about one identity in ten has a rejected match to the next
    identity. ``thumbnails`` (JPEGs) are handed out in turn; None leaves tracks without pictures.
    """
    rng = np.random.default_rng(seed)
    db = open_database(path)
    now = _naive(T0)
    with db.session() as s:
        cams = [repo.get_or_create_camera(s, name) for name in SYNTHETIC_CAMERAS]
        srcs = [repo.create_source(s, camera_id=c.id, uri=f"/data/videos/{c.name}.mp4", content_hash=c.name,
                                   start_time=T0, fps=FPS, frame_count=int(8 * 3600 * FPS), width=1920,
                                   height=1080, settings={}) for c in cams]
        s.execute(m.Identity.__table__.insert(), [
            {"id": i, "name": f"Person {i}" if i % 3 == 0 else None, "watch": int(i % 50 == 0), "created_at": now}
            for i in range(1, n_identities + 1)
        ])
        tracks, embeddings, matches = [], [], []
        tid = 0
        local = [0] * len(cams)
        for ident in range(1, n_identities + 1):
            t = float(rng.uniform(0, 8 * 3600 - 900))
            prev = None
            for _ in range(int(rng.integers(1, 5))):
                c = int(rng.integers(0, len(cams)))
                dur = float(rng.uniform(3, 90))
                tid += 1
                local[c] += 1
                f0 = round(t * FPS)
                f1 = round((t + dur) * FPS)
                tracks.append({
                    "id": tid, "source_id": srcs[c].id, "camera_id": cams[c].id, "local_id": local[c],
                    "identity_id": ident, "first_frame": f0, "last_frame": f1, "start_time": _naive(_t(f0 / FPS)),
                    "end_time": _naive(_t(f1 / FPS)), "n_obs": f1 - f0 + 1,
                    "thumbnail": thumbnails[tid % len(thumbnails)] if thumbnails else None,
                })
                embeddings.append({
                    "track_id": tid, "frame": f0, "quality": float(rng.uniform(0.3, 1.0)),
                    "global_feat": np.zeros(16, np.float16).tobytes(), "parts": np.zeros(24, np.float16).tobytes(),
                    "visibility": 7, "model_tag": MODEL_TAG,
                })
                if prev is not None:
                    matches.append({"run_id": 1, "track_a": prev, "track_b": tid,
                                    "distance": round(float(rng.uniform(0.1, 0.45)), 3), "kind": "cross_camera",
                                    "status": "confirmed" if rng.random() < 0.2 else "auto"})
                prev = tid
                t += dur + float(rng.uniform(5, 240))
        s.execute(m.LinkRun.__table__.insert(), [{"id": 1, "at": now, "threshold": 0.45, "params": {},
                                                  "stats": {"identities": n_identities}}])
        s.execute(m.Track.__table__.insert(), tracks)
        s.execute(m.Embedding.__table__.insert(), embeddings)
        first_of = {}
        for row in tracks:
            first_of.setdefault(row["identity_id"], row["id"])
        for ident in range(1, n_identities, 10):
            matches.append({"run_id": 1, "track_a": first_of[ident], "track_b": first_of[ident + 1],
                            "distance": 0.5, "kind": "cross_camera", "status": "rejected"})
        if matches:
            s.execute(m.Match.__table__.insert(), matches)
        repo.put_setting(s, "link.threshold", {"value": 0.45, "calibrated": False})
    return db
