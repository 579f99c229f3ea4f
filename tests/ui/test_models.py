"""Qt models tested without any window: row counts, data roles, set_rows, thumbnails, sorting."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor, QImage

from app.config import Config
from app.store.queries import Overlay
from app.store.records import IdentityInfo, MatchInfo, TrackInfo
from ui.controllers.player import pick_overlay
from ui.models.base import ROW_ROLE, SORT_ROLE, fmt_span, identity_label
from ui.models.identities import THUMBS_ROLE, IdentityListModel, sort_identities
from ui.models.jobs import PROGRESS_ROLE, IngestJobModel, JobRow
from ui.models.review import MatchRow, MatchTableModel
from ui.models.settings import UiSettings, read_settings, write_settings
from ui.models.tracks import TrackTableModel
from ui.views.player import fit_rect

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
DISPLAY = Qt.ItemDataRole.DisplayRole


def ident(i: int, *, name: str | None = None, n: int = 1, cams: tuple[str, ...] = ("a",), last_min: int = 0,
          first_min: int = 0) -> IdentityInfo:
    return IdentityInfo(i, name, False, n, cams, T0 + timedelta(minutes=first_min), T0 + timedelta(minutes=last_min))


def track(i: int, camera: str = "entrance", identity: int | None = 1) -> TrackInfo:
    return TrackInfo(i, 1, 1, camera, i + 100, None, identity, 5, 25, T0, T0 + timedelta(seconds=3), 21)


def image(w: int, h: int, colour: str = "red") -> QImage:
    img = QImage(w, h, QImage.Format.Format_RGB32)
    img.fill(QColor(colour))
    return img


def test_identity_model_rows_roles_and_sorting(qapp) -> None:
    model = IdentityListModel(thumb_height=50)
    assert model.rowCount() == 0
    rows = [ident(1, n=3, last_min=5), ident(2, name="Zoe", n=1, last_min=9), ident(3, name="adam", n=7, last_min=1)]
    model.set_rows(rows)
    assert model.rowCount() == 3
    # default order: most recently seen first
    assert [model.row(r).id for r in range(3)] == [2, 1, 3]
    assert model.data(model.index(0, 0), DISPLAY) == "Zoe"
    assert model.data(model.index(1, 0), DISPLAY) == "Person #1"
    assert model.data(model.index(1, 0), ROW_ROLE) == rows[0]
    assert "3 sightings" in model.data(model.index(1, 0), Qt.ItemDataRole.ToolTipRole)
    model.set_sort_key("sightings")
    assert [model.row(r).id for r in range(3)] == [3, 1, 2]
    model.set_sort_key("name")  # case-insensitive, unnamed last
    assert [model.row(r).id for r in range(3)] == [3, 2, 1]
    with pytest.raises(ValueError, match="unknown sort key"):
        sort_identities(rows, "height")


def test_identity_thumbnails_scaled_kept_over_refresh_and_dropped_for_gone_rows(qapp) -> None:
    model = IdentityListModel(thumb_height=50, max_thumbs=2)
    model.set_rows([ident(1), ident(2)])
    changed = []
    model.dataChanged.connect(lambda a, b, roles: changed.append((a.row(), roles)))
    model.set_thumbnails(1, [("a", image(40, 100)), ("b", image(30, 60)), ("c", image(10, 10))])
    thumbs = model.data(model.index(model.row_of(1), 0), THUMBS_ROLE)
    assert [cam for cam, _ in thumbs] == ["a", "b"]  # max_thumbs
    assert all(img.height() == 50 for _, img in thumbs)
    assert thumbs[0][1].width() == 20  # aspect kept
    assert changed and changed[0][0] == model.row_of(1)
    model.set_rows([ident(1, last_min=3)])  # refresh keeps the pictures of identity 1
    assert len(model.thumbnails(1)) == 2
    model.set_rows([ident(2)])
    assert model.thumbnails(1) == ()
    assert model.data(model.index(5, 0), DISPLAY) is None


def test_track_table_model(qapp) -> None:
    model = TrackTableModel(thumb_height=40)
    model.set_rows([track(1), track(2, "lobby")])
    assert (model.rowCount(), model.columnCount()) == (2, 5)
    assert model.headerData(TrackTableModel.CAMERA, Qt.Orientation.Horizontal) == "Camera"
    assert model.data(model.index(1, TrackTableModel.CAMERA)) == "lobby"
    assert model.data(model.index(0, TrackTableModel.LENGTH)) == "5–25"
    assert model.data(model.index(0, TrackTableModel.TRACK)) == "#1 (local 101)"
    assert model.data(model.index(0, TrackTableModel.TIME), SORT_ROLE) == T0
    assert model.data(model.index(0, TrackTableModel.THUMB), Qt.ItemDataRole.DecorationRole) is None
    model.set_thumbnail(2, image(64, 128))
    deco = model.data(model.index(1, TrackTableModel.THUMB), Qt.ItemDataRole.DecorationRole)
    assert isinstance(deco, QImage) and deco.height() == 40
    assert model.row_of(2) == 1 and model.row_of(9) is None
    model.set_rows([])
    assert model.rowCount() == 0


def test_search_result_model_ranks_and_formats(qapp) -> None:
    from app.identity.search import SearchHit

    hits = [SearchHit(7, 3, "Alice", "lobby", 2, T0, T0 + timedelta(seconds=9), 12, 0.1234),
            SearchHit(8, None, None, "entrance", 1, T0, T0, 3, 0.5)]
    from ui.models.search import SearchResultModel

    model = SearchResultModel()
    model.set_rows(hits)
    col = SearchResultModel
    assert [model.data(model.index(r, col.RANK)) for r in range(2)] == ["1", "2"]
    assert model.data(model.index(0, col.DISTANCE)) == "0.123"
    assert model.data(model.index(0, col.IDENTITY)) == "Alice"
    assert model.data(model.index(1, col.IDENTITY)) == "unlinked"
    assert model.data(model.index(1, col.DISTANCE), SORT_ROLE) == 0.5
    assert model.data(model.index(0, col.CAMERA), ROW_ROLE) is hits[0]


def test_match_rows_validate_and_show_both_tracks(qapp) -> None:
    a, b = track(1), track(2, "lobby", identity=2)
    match = MatchInfo(10, 1, 2, 0.25, "cross_camera", "auto")
    with pytest.raises(ValueError, match="not the match's"):
        MatchRow(match, b, a)
    model = MatchTableModel(thumb_height=30)
    model.set_rows([MatchRow(match, a, b)])
    assert model.data(model.index(0, MatchTableModel.KIND)) == "cross-camera"
    assert model.data(model.index(0, MatchTableModel.WHERE)) == "entrance → lobby"
    assert model.data(model.index(0, MatchTableModel.DISTANCE)) == "0.250"
    model.set_thumbnail(2, image(20, 60))
    assert model.data(model.index(0, MatchTableModel.THUMB_A), Qt.ItemDataRole.DecorationRole) is None
    assert model.data(model.index(0, MatchTableModel.THUMB_B), Qt.ItemDataRole.DecorationRole).height() == 30
    assert model.row_of_match(10) == 0


def test_job_model_progress_and_updates(qapp) -> None:
    model = IngestJobModel()
    model.add_job(JobRow(job_id=1, path=Path("/v/a.avi"), camera="entrance", start=None))
    model.add_job(JobRow(job_id=2, path=Path("/v/b.avi"), camera="lobby", start=T0))
    assert model.rowCount() == 2
    assert model.data(model.index(0, IngestJobModel.PROGRESS), PROGRESS_ROLE) == -1  # total unknown
    model.update_job(1, status="running", done=30, total=120)
    assert model.data(model.index(0, IngestJobModel.PROGRESS), PROGRESS_ROLE) == 25
    assert model.data(model.index(0, IngestJobModel.PROGRESS)) == "25 % (30/120 frames)"
    assert model.data(model.index(0, IngestJobModel.START)) == "file time"
    assert [r.job_id for r in model.active_jobs()] == [1, 2]
    model.update_job(2, status="cancelled")
    model.update_job(1, status="complete")
    assert model.active_jobs() == []
    assert model.job(1).percent == 100
    assert model.update_job(99, status="x") is None


def test_settings_validate_apply_and_round_trip(tmp_path: Path, qapp) -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        UiSettings(imgsz="1000")
    with pytest.raises(ValueError, match="unknown tracker"):
        UiSettings(tracker="sort")
    base = Config(db=tmp_path / "default.db")
    chosen = UiSettings(db=tmp_path / "other.db", device="cpu", imgsz="1280", conf=0.25, tracker="deepsort",
                        threshold=0.3)
    cfg = chosen.apply(base)
    assert (cfg.db, cfg.device, cfg.detector.imgsz, cfg.detector.conf) == (tmp_path / "other.db", "cpu", 1280, 0.25)
    assert (cfg.tracker.name, cfg.link.threshold) == ("deepsort", 0.3)
    assert UiSettings().apply(base).db == base.db
    qs = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    defaults = UiSettings.from_config(base)
    assert read_settings(qs, defaults) == defaults
    write_settings(qs, chosen)
    again = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    assert read_settings(again, defaults) == chosen
    write_settings(again, UiSettings(threshold=None))
    assert read_settings(QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat), defaults).threshold is None


def test_pick_overlay_prefers_smallest_containing_box() -> None:
    kps = np.zeros((17, 3), np.float32)
    big = Overlay(1, None, None, (0, 0, 100, 200), kps)
    small = Overlay(2, 5, "Bo", (40, 50, 80, 150), kps)
    assert pick_overlay([big, small], 60, 100) == 2
    assert pick_overlay([big, small], 10, 10) == 1
    assert pick_overlay([big, small], 300, 10) is None
    assert pick_overlay([], 1, 1) is None


def test_geometry_and_formatting_helpers() -> None:
    assert fit_rect(200, 100, 400, 400) == (0.0, 100.0, 2.0)
    assert fit_rect(100, 200, 400, 200) == (150.0, 0.0, 1.0)
    assert identity_label(None, None) == "unlinked"
    assert identity_label(4, None) == "Person #4" and identity_label(4, "Ann") == "Ann"
    span = fmt_span(T0, T0 + timedelta(seconds=41))
    assert span.count(":") == 4 and span.count("-") == 2  # the date only once on the same day
    assert fmt_span(None, None) == "—"


def test_labels_are_placed_without_overlap_when_there_is_room() -> None:
    from ui.views.player import place_labels

    bounds = (0.0, 0.0, 400.0, 300.0)
    boxes = [(100.0, 100.0, 30.0, 80.0), (110.0, 100.0, 30.0, 80.0), (120.0, 102.0, 30.0, 80.0)]
    spots = place_labels(boxes, [(60.0, 14.0)] * 3, bounds)
    assert spots[0] == (100.0, 86.0, 60.0, 14.0)  # above the first box
    assert spots[1] == (110.0, 180.0, 60.0, 14.0)  # below the second: above is taken
    for i, a in enumerate(spots):
        for b in spots[i + 1:]:
            assert not (a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3])
    # a box at the top edge gets its label below; a label never leaves the frame on the right
    [spot] = place_labels([(380.0, 0.0, 20.0, 50.0)], [(60.0, 14.0)], bounds)
    assert spot == (340.0, 50.0, 60.0, 14.0)
