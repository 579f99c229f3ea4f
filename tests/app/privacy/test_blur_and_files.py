"""Files at rest are the owner's only; report pictures blur the heads of people other than the report's subjects."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli import main
from app.ingest.pipeline import thumbnail_jpeg
from app.ingest.sampling import crop_box
from app.privacy.blur import blur_image, head_box, to_picture
from app.report import build_report
from app.store import models as m
from app.store import open_database, repo
from app.store.records import ObservationRecord

T0 = datetime(2026, 11, 27, 10, tzinfo=timezone.utc)
FRAME = 10
SUBJECT_BOX = (100.0, 100.0, 200.0, 400.0)
BYSTANDER_BOX = (135.0, 90.0, 235.0, 390.0)
BYSTANDER_HEAD = (185.0, 115.0)  # nose (eyes and ears around it): inside the subject's crop


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _kps(nose: tuple[float, float] | None) -> np.ndarray:
    k = np.zeros((17, 3), np.float32)
    if nose is not None:
        x, y = nose
        k[:5] = [(x, y, 0.9), (x - 5, y - 5, 0.9), (x + 5, y - 5, 0.9), (x - 12, y, 0.8), (x + 12, y, 0.8)]
    return k


def _frame() -> np.ndarray:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (480, 640, 3), np.uint8)  # texture everywhere: a blur shows as a change
    return cv2.resize(cv2.resize(img, (160, 120)), (640, 480), interpolation=cv2.INTER_NEAREST)


def _store(path: Path) -> tuple[object, int, int, bytes]:
    """Two people at one frame: the subject (identity 1) and a bystander whose head reaches into its crop."""
    db = open_database(path)
    crop, _cut = crop_box(_frame(), np.array(SUBJECT_BOX))
    jpeg = thumbnail_jpeg(crop)
    ids = []
    with db.session() as s:
        cam = repo.get_or_create_camera(s, "gate")
        src = repo.create_source(s, camera_id=cam.id, uri="/v/gate.mp4", content_hash=None, start_time=T0, fps=10.0,
                                 frame_count=100, width=640, height=480, settings={})
        for local, box, nose in ((1, SUBJECT_BOX, (120.0, 125.0)), (2, BYSTANDER_BOX, BYSTANDER_HEAD)):
            tid = repo.create_track(s, source_id=src.id, camera_id=cam.id, local_id=local, frame=FRAME - 5, t=T0)
            repo.add_observations(s, [ObservationRecord(tid, f, T0 + timedelta(seconds=f / 10), box, 0.9, _kps(nose),
                                                        False) for f in range(FRAME - 5, FRAME + 5)])
            ident = m.Identity(created_at=T0.replace(tzinfo=None), watch=0)
            s.add(ident)
            s.flush()
            s.get(m.Track, tid).identity_id = ident.id
            ids.append(ident.id)
            repo.add_embeddings(s, tid, [FRAME - 4, FRAME], [0.2, 0.9], np.ones((2, 8), np.float32),
                                np.ones((2, 3, 4), np.float32), np.ones((2, 3), bool), "pgfa;test")
            repo.set_thumbnail(s, tid, jpeg)
    return db, ids[0], ids[1], jpeg


def _decode(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).astype(np.int16)


def test_head_box_and_mapping_are_pure() -> None:
    head = head_box(_kps(BYSTANDER_HEAD), BYSTANDER_BOX)
    assert head[0] < 173 and head[2] > 197 and head[1] < 110 and head[3] > 118  # covers eyes and ears
    assert head[2] - head[0] >= 0.2 * 300 - 1e-3  # at least a fifth of the person's height across
    assert head_box(_kps(None), BYSTANDER_BOX) == (135.0, 90.0, 235.0, 150.0)  # no keypoint: top fifth
    assert to_picture((0, 0, 10, 10), (100, 100, 200, 200), (50, 50)) is None
    assert to_picture((150, 150, 250, 250), (100, 100, 200, 200), (50, 50)) == (25, 25, 50, 50)
    img = np.random.default_rng(0).integers(0, 255, (40, 40, 3), np.uint8)
    out = blur_image(img, [(0, 0, 20, 20)])
    assert np.array_equal(out[20:, :], img[20:, :]) and np.array_equal(out[:, 20:], img[:, 20:])
    assert np.abs(out[:20, :20].astype(int) - img[:20, :20]).mean() > 20


def test_report_blurs_the_bystanders_head_only(tmp_path: Path) -> None:
    db, subject, bystander, original = _store(tmp_path / "s.db")
    try:
        report = build_report(db, identities=[subject], blur_bystanders=True)
        pic = report.identities[0].cameras[0].thumbnail
        assert "1 blurred" in (report.privacy_note or "")
        both = build_report(db, identities=[subject, bystander], blur_bystanders=True)
        assert all(c.thumbnail == original for i in both.identities for c in i.cameras)  # all are subjects
        plain = build_report(db, identities=[subject])
        assert plain.identities[0].cameras[0].thumbnail == original and plain.privacy_note is None
    finally:
        db.close()
    a, b = _decode(original), _decode(pic)
    h, w = a.shape[:2]
    cut = (95.0, 85.0, 205.0, 415.0)  # the subject's box padded by 5 %
    sx, sy = w / (cut[2] - cut[0]), h / (cut[3] - cut[1])
    hx, hy = int((BYSTANDER_HEAD[0] - cut[0]) * sx), int((BYSTANDER_HEAD[1] - cut[1]) * sy)
    head = np.abs(a[hy - 3:hy + 3, hx - 3:min(w, hx + 3)] - b[hy - 3:hy + 3, hx - 3:min(w, hx + 3)]).mean()
    ys, xs = slice(int(15 * sy), int(55 * sy)), slice(int(5 * sx), int(50 * sx))  # frame x 100..145, y 100..140
    subject_head = np.abs(a[ys, xs] - b[ys, xs]).mean()
    legs = np.abs(a[h // 2:, :] - b[h // 2:, :]).mean()
    assert head > 12 and subject_head < 8 and legs < 8, (head, subject_head, legs)  # JPEG noise alone: ~5


def test_cli_report_blurs_by_default_for_html_and_files_are_private(tmp_path: Path) -> None:
    db, subject, _bystander, _ = _store(tmp_path / "data" / "s.db")
    db.close()
    path = tmp_path / "data" / "s.db"
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    for suffix in ("-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        assert not side.exists() or _mode(side) == 0o600
    out = tmp_path / "reports" / "deep" / "r.html"
    assert main(["-q", "report", "--out", str(out), "--identity", str(subject), "--db", str(path)]) == 0
    assert _mode(out) == 0o600 and _mode(out.parent) == 0o700 and _mode(out.parent.parent) == 0o700
    assert "Heads of people other than the reported identities are blurred" in out.read_text()
    assert main(["-q", "report", "--out", str(out), "--identity", str(subject), "--no-blur", "--audit",
                 "--db", str(path)]) == 0
    text = out.read_text()
    assert "are blurred" not in text and "Audit trail of these people" in text and "export" in text


def test_an_existing_store_is_made_private_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    open_database(path).close()
    os.chmod(path, 0o644)
    open_database(path).close()
    assert _mode(path) == 0o600


@pytest.mark.parametrize("umask", [0o022])
def test_report_file_mode_ignores_a_permissive_umask(tmp_path: Path, umask: int) -> None:
    from app.report.files import write_atomic, write_text

    old = os.umask(umask)
    try:
        p = write_atomic(tmp_path / "new" / "x.csv", lambda t: write_text(t, "a\n"))
    finally:
        os.umask(old)
    assert _mode(p) == 0o600 and _mode(p.parent) == 0o700
