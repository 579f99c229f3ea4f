"""The live page: alert model, frame preparation, the add-camera dialog, the frame mailbox, and the whole page
watching a real RTSP camera (real detector, tracker and encoder on CPU, a real SQLite store).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QThread
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QListWidget

from app.config import Config, DetectorConfig, EncoderConfig
from app.errors import UserError
from app.live.capture import CapturedFrame
from app.live.health import CameraState
from app.live.monitor import Alert
from app.live.redact import parse_camera_spec
from app.runtime import Runtime
from tests.app.live.test_watch import people_video
from trackers.types import NUM_KEYPOINTS, Tracks
from ui.live import AddCameraDialog, AlertListModel, LiveController, LiveOptions, LivePage
from ui.live.controller import display_scale, make_live_frame
from ui.live.grid import STATE_COLOURS, grid_shape, track_colour
from ui.models.base import ROW_ROLE, SORT_ROLE

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "pa55-w0rd!"
T0 = datetime(2025, 3, 1, 10, 0, tzinfo=timezone.utc)  # not today: alerts show their date


def jpeg_crop(shared_data: Path) -> bytes:
    image = cv2.imread(str(shared_data / "basketball1.png"))
    ok, buf = cv2.imencode(".jpg", cv2.resize(image[:, : image.shape[1] // 3], None, fx=0.5, fy=0.5))
    assert ok
    return buf.tobytes()


def make_alert(i: int, *, thumbnail: bytes | None, distance: float | None = 0.2, camera: str = "court",
               name: str | None = "Alice") -> Alert:
    return Alert(camera=camera, identity_id=10 + i, identity_name=name, track_id=100 + i,
                 time=T0 + timedelta(seconds=i), distance=distance, thumbnail=thumbnail)


def frame_with_tracks(w: int, h: int) -> tuple[CapturedFrame, Tracks]:
    image = np.zeros((h, w, 3), np.uint8)
    image[:, : w // 2] = (255, 0, 0)  # BGR blue on the left half
    tracks = Tracks(ids=np.array([3, 8]), boxes=np.array([[100, 200, 300, 600], [800, 100, 1000, 500]]),
                    scores=np.array([0.9, 0.4]), keypoints=np.zeros((2, NUM_KEYPOINTS, 3)), det_index=np.array([0, -1]))
    frame = CapturedFrame(camera="court", frame_index=5, wall_time=T0, image=image)
    return frame, tracks


# ------------------------------------------------------------------------------------------- no window
def test_alert_model_lists_newest_first_with_thumbnails_and_drops_the_oldest(qapp, shared_data) -> None:
    model = AlertListModel(max_rows=3, thumb_height=40)
    jpeg = jpeg_crop(shared_data)
    model.add_alert(make_alert(0, thumbnail=jpeg))
    model.add_alert(make_alert(1, thumbnail=None, distance=None, name=None))
    model.add_alert(make_alert(2, thumbnail=b"not a jpeg"))
    assert model.rowCount() == 3 and model.columnCount() == 5

    def text(row: int, col: int) -> str:
        return model.data(model.index(row, col))

    assert [a.track_id for a in model.alerts()] == [102, 101, 100]  # newest on top
    assert text(1, AlertListModel.IDENTITY) == "Person #11"  # no name: the id
    assert text(1, AlertListModel.DISTANCE) == "n/a"
    assert text(2, AlertListModel.IDENTITY) == "Alice"
    assert text(2, AlertListModel.DISTANCE) == "0.200"
    assert text(2, AlertListModel.CAMERA) == "court" and text(2, AlertListModel.TRACK) == "100"
    assert text(2, AlertListModel.TIME) == T0.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    thumb = model.data(model.index(2, AlertListModel.IDENTITY), 1)  # DecorationRole
    assert isinstance(thumb, QImage) and thumb.height() == 40 and thumb.width() > 5
    assert model.data(model.index(1, AlertListModel.IDENTITY), 1) is None  # no thumbnail
    assert model.data(model.index(0, AlertListModel.IDENTITY), 1) is None  # unreadable thumbnail
    assert model.data(model.index(0, 0), ROW_ROLE) is model.alert(0)
    assert model.data(model.index(1, AlertListModel.DISTANCE), SORT_ROLE) == float("inf")

    model.add_alert(make_alert(3, thumbnail=jpeg))
    assert [a.track_id for a in model.alerts()] == [103, 102, 101], "the oldest alert dropped off"
    model.clear()
    assert model.rowCount() == 0


def test_live_frame_is_downscaled_rgb_with_boxes_in_display_pixels(qapp) -> None:
    frame, tracks = frame_with_tracks(1280, 720)
    live = make_live_frame(frame, tracks, (320, 240))
    assert (live.image.width(), live.image.height()) == (320, 180)  # aspect kept, fits 320x240
    assert live.source_size == (1280, 720)
    assert live.image.pixelColor(10, 10) == QColor(0, 0, 255)  # BGR blue is RGB blue
    assert live.image.pixelColor(300, 10) == QColor(0, 0, 0)
    assert [o.track_id for o in live.overlays] == [3, 8]
    np.testing.assert_allclose(live.overlays[0].box, (25, 50, 75, 150))
    assert [o.predicted for o in live.overlays] == [False, True]
    assert frame.image[0, 0].tolist() == [255, 0, 0], "the captured frame is left alone"

    small, _ = frame_with_tracks(160, 120)
    same = make_live_frame(small, Tracks.empty(), (640, 480))
    assert (same.image.width(), same.image.height()) == (160, 120), "never upscaled"
    assert grid_shape(1) == (1, 1) and grid_shape(2) == (1, 2) and grid_shape(5) == (2, 3)


def test_add_camera_dialog_hides_credentials_and_shows_refusals(qtbot) -> None:
    submitted: list[tuple[str, str]] = []

    def submit(name: str, url: str) -> None:
        name, url = parse_camera_spec(f"{name}={url}")
        if name in {n for n, _ in submitted}:
            raise UserError(f"a camera named {name!r} is already watched")
        submitted.append((name, url))

    def show() -> AddCameraDialog:
        d = AddCameraDialog(submit=submit)
        qtbot.addWidget(d)
        d.show()
        d.activateWindow()
        qtbot.waitActive(d)  # focus moves between the fields only in the active window
        return d

    dialog = show()
    secret_url = f"rtsp://admin:{PASSWORD}@10.0.0.7:554/stream1"
    qtbot.keyClicks(dialog.name_edit, "gate")
    dialog.url_edit.setFocus()
    qtbot.waitUntil(dialog.url_edit.hasFocus, timeout=2000)
    qtbot.keyClicks(dialog.url_edit, secret_url)
    assert dialog.url_edit.text() == secret_url  # typing shows what is typed
    dialog.name_edit.setFocus()  # leaving the field hides the password
    qtbot.waitUntil(lambda: dialog.masked, timeout=2000)
    assert dialog.url_edit.text() == "rtsp://***@10.0.0.7:554/stream1"
    assert dialog.url == secret_url
    dialog.url_edit.setFocus()  # back into the field: editable again
    qtbot.waitUntil(lambda: not dialog.masked, timeout=2000)
    assert dialog.url_edit.text() == secret_url
    dialog.try_accept()
    assert submitted == [("gate", secret_url)] and dialog.result() == dialog.DialogCode.Accepted
    assert dialog.url == "" and dialog.url_edit.text() == ""

    refused = show()
    refused.name_edit.setText("gate")
    refused.url_edit.setText(f"ftp://admin:{PASSWORD}@10.0.0.7/x")
    refused.try_accept()
    assert refused.isVisible() and refused.error_label.isVisible()
    assert "unsupported URL scheme 'ftp'" in refused.error_label.text()
    assert PASSWORD not in refused.error_label.text() and PASSWORD not in refused.url_edit.text()
    refused.url_edit.setText("rtsp://10.0.0.8/other")
    refused.try_accept()
    assert "already watched" in refused.error_label.text() and refused.isVisible()
    refused.name_edit.setText("")
    refused.try_accept()
    assert refused.error_label.text() == "Give the camera a name." and len(submitted) == 1


def test_the_gui_gets_only_the_newest_frame_per_camera(qtbot, tmp_path) -> None:
    """The worker offers frames faster than a busy GUI thread takes them: no backlog forms."""
    controller = LiveController(tmp_path / "live.db", Runtime(Config()), autostart=False)
    controller.add_camera("court", "rtsp://127.0.0.1:8554/a")
    controller.add_camera("gate", "rtsp://127.0.0.1:8554/b")
    controller.set_display_size(200, 150)
    got: list[tuple[str, int, bool]] = []
    ui_thread = QThread.currentThread()
    controller.frame_ready.connect(lambda f: got.append((f.camera, f.frame_index, QThread.currentThread() is ui_thread)))
    base, tracks = frame_with_tracks(640, 360)

    def worker() -> None:
        for i in range(40):
            for cam in ("court", "gate", "removed-meanwhile"):
                f = CapturedFrame(camera=cam, frame_index=i, wall_time=T0, image=base.image)
                controller.on_frame(cam, f, tracks)

    t = threading.Thread(target=worker)
    t.start()
    t.join()  # the GUI thread was busy (joining) the whole time: 40 frames per camera piled up
    qtbot.waitUntil(lambda: len(got) >= 2, timeout=2000)
    QApplication.processEvents()
    assert sorted(got) == [("court", 39, True), ("gate", 39, True)]  # one each, the newest, on the GUI thread
    stats = controller.display_stats()
    assert stats["court"].offered == 40 and stats["court"].shown == 1 and stats["court"].replaced == 39
    controller.remove_camera("gate")
    controller.on_frame("gate", CapturedFrame(camera="gate", frame_index=99, wall_time=T0, image=base.image), tracks)
    QApplication.processEvents()
    assert len(got) == 2, "a removed camera's frames are not shown"
    assert controller.stop()


def test_an_alert_from_the_worker_appears_in_the_panel_and_on_the_tile(qtbot, tmp_path, shared_data,
                                                                        caplog) -> None:
    controller = LiveController(tmp_path / "live.db", Runtime(Config()), autostart=False)
    page = LivePage(controller=controller)
    qtbot.addWidget(page)
    controller.add_camera("court", "rtsp://127.0.0.1:8554/a")
    now = datetime.now(timezone.utc)
    alert = Alert(camera="court", identity_id=4, identity_name="Bob", track_id=17, time=now, distance=0.183,
                  thumbnail=jpeg_crop(shared_data))
    t = threading.Thread(target=controller.on_alert, args=(alert,))  # as the monitor does, from its thread
    t.start()
    t.join()
    model = page.alerts.model
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=2000)
    assert model.alert(0) == alert
    assert model.data(model.index(0, AlertListModel.IDENTITY)) == "Bob"
    assert model.data(model.index(0, AlertListModel.DISTANCE)) == "0.183"
    assert model.data(model.index(0, AlertListModel.TIME)) == now.astimezone().strftime("%H:%M:%S")  # today
    assert "1 watchlist alert this session" in page.alerts.count_label.text()
    assert "watchlist alert shown: Bob (identity 4) on camera court" in caplog.text
    tile = page.grid.tile("court")
    assert tile is not None and tile.alert_text() is not None and "WATCHLIST: Bob" in tile.alert_text()
    assert tile.alert_text(now + timedelta(minutes=5)) is None, "the banner goes after a while"
    assert controller.stop()


# ------------------------------------------------------------------------------------------- real camera
def visible_texts(page: LivePage) -> list[str]:
    texts = [w.text() for w in page.findChildren(QLabel)] + [w.text() for w in page.findChildren(QLineEdit)]
    for lw in page.findChildren(QListWidget):
        texts += [lw.item(i).text() for i in range(lw.count())] + [lw.item(i).toolTip() for i in range(lw.count())]
    for name in page.grid.cameras():
        tile = page.grid.tile(name)
        texts += [tile.source, tile.badge_text(), tile.toolTip()]
    return texts


def colour_near(image: QImage, x: float, y: float, colour: QColor, radius: int = 3) -> bool:
    for dx in range(-radius, radius + 1):
        for dy in range(-radius, radius + 1):
            px, py = int(x) + dx, int(y) + dy
            if 0 <= px < image.width() and 0 <= py < image.height():
                c = image.pixelColor(px, py)
                if abs(c.red() - colour.red()) + abs(c.green() - colour.green()) + abs(c.blue() - colour.blue()) < 60:
                    return True
    return False


@pytest.mark.slow
@pytest.mark.rtsp
def test_live_page_watches_a_real_camera(qtbot, tmp_path, shared_data, rtsp_server) -> None:
    video = people_video(shared_data, tmp_path / "people.avi", frames=60)
    server = rtsp_server(video, user="op", password=PASSWORD)
    db_path = tmp_path / "live.db"
    cfg = Config(db=db_path, device="cpu", detector=DetectorConfig(imgsz=416),
                 encoder=EncoderConfig(backbone="mobilenetv2"))
    options = LiveOptions(flush_interval_s=0.5, link=False, stall_timeout_s=2.0, backoff_initial_s=0.3,
                          backoff_max_s=1.0, health_refresh_ms=300)
    controller = LiveController(db_path, Runtime(cfg), options=options)
    page = LivePage(controller=controller)
    qtbot.addWidget(page)
    page.resize(960, 540)
    page.show()
    qtbot.waitExposed(page)
    try:
        # add the camera through the dialog, as an operator would
        page.add_button.click()
        dialog = page.add_dialog
        assert dialog is not None and dialog.isVisible()
        dialog.name_edit.setText("court")
        dialog.url_edit.setText(server.url_with("op", PASSWORD))
        dialog.try_accept()
        assert page.add_dialog is None or not page.add_dialog.isVisible()
        tile = page.grid.tile("court")
        assert tile is not None and tile.source == f"rtsp://***@127.0.0.1:{server.port}/stream"

        qtbot.waitUntil(lambda: tile.frame is not None and tile.state is CameraState.LIVE, timeout=60_000)
        assert "court live" in tile.badge_text() and tile.badge_colour() == STATE_COLOURS[CameraState.LIVE]
        assert "Live monitor: watching on CPU" in page.status_label.text()
        qtbot.waitUntil(lambda: len(tile.overlays) >= 1, timeout=30_000)  # the players are tracked
        frame = tile.frame
        src_w, src_h = frame.source_size
        shown = tile.display_size()
        scale = display_scale(src_w, src_h, shown.width(), shown.height())
        assert scale < 1, "the tile is smaller than the camera's frames"
        assert abs(frame.image.width() - src_w * scale) <= 1 and abs(frame.image.height() - src_h * scale) <= 1, \
            "downscaled in the worker to the tile size"
        for ov in frame.overlays:
            x1, y1, x2, y2 = ov.box
            assert 0 <= x1 < x2 <= frame.image.width() + 1 and 0 <= y1 < y2 <= frame.image.height() + 1
        # the box is painted in its track's colour: sample the middle of its left edge on the rendered tile
        ov = next(o for o in frame.overlays if not o.predicted)
        tile.set_frame(frame)  # hold this frame while sampling
        rendered = tile.grab().toImage()
        edge = tile.image_to_widget(ov.box[0], (ov.box[1] + ov.box[3]) / 2)
        assert colour_near(rendered, edge.x(), edge.y(), track_colour(ov.track_id))
        inside = tile.image_to_widget((ov.box[0] + ov.box[2]) / 2, (ov.box[1] + ov.box[3]) / 2)
        assert not colour_near(rendered, inside.x(), inside.y(), track_colour(ov.track_id), radius=0)

        controller.on_alert(Alert(camera="court", identity_id=3, identity_name="Player 23",
                                  track_id=1, time=datetime.now(timezone.utc), distance=0.21,
                                  thumbnail=jpeg_crop(shared_data)))
        qtbot.waitUntil(lambda: page.alerts.model.rowCount() == 1, timeout=2000)
        qtbot.wait(600)  # a few more live frames
        shot = tmp_path / "ui_live.png"
        assert page.grab().save(str(shot)) and shot.stat().st_size > 10_000
        if os.environ.get("REIDWATCH_UPDATE_SCREENSHOTS"):
            (ROOT / "docs" / "screenshots").mkdir(parents=True, exist_ok=True)
            page.grab().save(str(ROOT / "docs" / "screenshots" / "ui_live.png"))

        server.stop()  # the camera goes away: the badge says so, the last frame stays (dimmed)
        qtbot.waitUntil(lambda: tile.state in (CameraState.STALLED, CameraState.RECONNECTING), timeout=20_000)
        assert tile.frame is not None and tile.badge_colour() in (STATE_COLOURS[CameraState.STALLED],
                                                                  STATE_COLOURS[CameraState.RECONNECTING])
        assert any(s in tile.badge_text() for s in ("court stalled", "court reconnecting"))
        assert all(PASSWORD not in t for t in visible_texts(page)), "credentials never shown"

        page.camera_list.setCurrentRow(0)
        page.remove_button.click()
        assert page.grid.tile("court") is None and page.camera_list.count() == 0
        assert page.grid.cameras() == [] and controller.cameras() == {}
    finally:
        assert controller.stop(60)
    con = sqlite3.connect(db_path)
    try:
        assert con.execute("SELECT url_redacted FROM cameras WHERE name = 'court'").fetchone()[0].startswith(
            "rtsp://***@")
        assert con.execute("SELECT count(*) FROM observations").fetchone()[0] > 0
        assert {r[0] for r in con.execute("SELECT status FROM sources")} == {"complete"}
    finally:
        con.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("live.db*"))
    assert PASSWORD.encode() not in raw


def test_a_worker_that_cannot_load_its_models_says_why(qtbot, tmp_path) -> None:
    cfg = Config(db=tmp_path / "live.db", device="cpu", detector=DetectorConfig(weights=str(tmp_path / "none.pt")))
    controller = LiveController(tmp_path / "live.db", Runtime(cfg))
    page = LivePage(controller=controller)
    qtbot.addWidget(page)
    with qtbot.waitSignal(controller.failed, timeout=60_000) as failed:
        controller.add_camera("court", "rtsp://127.0.0.1:8554/a")
    assert "none.pt" in failed.args[0]
    assert page.status_label.text() == f"Live monitor stopped: {failed.args[0]}"
    qtbot.waitUntil(lambda: not controller.running, timeout=5000)
    assert controller.stop()
    assert page.grid.cameras() == ["court"], "the camera stays listed, to be watched once the models load"
