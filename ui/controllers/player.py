"""Player behaviour: open a source at a frame, play at a speed, step, scrub, select a person by clicking."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.store import Database
from app.store.records import SourceInfo
from ui.controllers import loaders
from ui.models.base import fmt_time, identity_label
from ui.views.player import PlayerView
from ui.workers import FrameRequest, FrameResult, FrameWorker, TaskRunner

log = logging.getLogger(__name__)


def pick_overlay(overlays: Sequence, x: float, y: float) -> int | None:
    """The track id of the smallest box that contains (x, y) in frame pixels (the nearest person when boxes
    overlap), or None when the point is on no box."""
    best: tuple[float, int] | None = None
    for ov in overlays:
        x1, y1, x2, y2 = ov.box
        if x1 <= x <= x2 and y1 <= y <= y2:
            area = (x2 - x1) * (y2 - y1)
            if best is None or area < best[0]:
                best = (area, ov.track_id)
    return None if best is None else best[1]


def frame_count(source: SourceInfo) -> int:
    """Frames to offer on the slider: what the container says, or what was processed when it says nothing."""
    return max(source.frame_count, source.frames_done, 1)


class PlayerController(QObject):
    """Drives :class:`PlayerView` with frames from a :class:`FrameWorker`."""

    track_selected = Signal(object)  # track id, or None when the selection is cleared
    search_requested = Signal(int)  # track id
    identity_requested = Signal(int)  # identity id
    frame_shown = Signal(int, int)  # source id, frame
    message = Signal(str)

    def __init__(self, *, view: PlayerView, db: Database, runner: TaskRunner, frames: FrameWorker) -> None:
        super().__init__(view)
        self.view, self.db, self.runner, self.frames = view, db, runner, frames
        self._sources: dict[int, SourceInfo] = {}
        self._source: SourceInfo | None = None
        self._frame = 0  # last frame requested
        self._shown: FrameResult | None = None
        self._selected: int | None = None
        self._awaiting = False
        self._speed = 1.0
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        frames.frame_ready.connect(self._on_frame)
        frames.failed.connect(self._on_failed)
        view.play_button.clicked.connect(self.toggle_play)
        view.back_button.clicked.connect(lambda: self.step(-1))
        view.forward_button.clicked.connect(lambda: self.step(1))
        view.slider.valueChanged.connect(self._on_slider)
        view.speed_combo.currentIndexChanged.connect(lambda _i: self.set_speed(view.speed_combo.currentData()))
        view.keypoints_check.toggled.connect(view.canvas.set_show_keypoints)
        view.canvas.clicked.connect(self.click)
        view.source_combo.currentIndexChanged.connect(self._on_source_chosen)
        view.search_button.clicked.connect(self._request_search)
        view.identity_button.clicked.connect(self._request_identity)

    # ------------------------------------------------------------------ state
    @property
    def source(self) -> SourceInfo | None:
        return self._source

    @property
    def frame(self) -> int:
        return self._frame

    @property
    def shown(self) -> FrameResult | None:
        return self._shown

    @property
    def selected_track(self) -> int | None:
        return self._selected

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    @property
    def idle(self) -> bool:
        return not self._awaiting and self.frames.idle

    # ------------------------------------------------------------------ sources
    def refresh_sources(self) -> None:
        self.runner.submit(loaders.load_sources, self.db, on_done=self._on_sources, key="player.sources")

    def _on_sources(self, sources: list[SourceInfo]) -> None:
        self._sources = {s.id: s for s in sources}
        combo = self.view.source_combo
        combo.blockSignals(True)
        combo.clear()
        for s in sources:
            combo.addItem(f"{s.camera} · {Path(s.uri).name} · {fmt_time(s.start_time)}"
                          + ("" if s.status == "complete" else f" ({s.status})"), s.id)
        if self._source is not None and self._source.id in self._sources:
            combo.setCurrentIndex(combo.findData(self._source.id))
        else:
            combo.setCurrentIndex(-1)
        combo.blockSignals(False)

    def _on_source_chosen(self, index: int) -> None:
        source_id = self.view.source_combo.itemData(index)
        if source_id is not None and (self._source is None or self._source.id != source_id):
            self.open_source(source_id, 0)

    def open_source(self, source_id: int, frame: int = 0, *, select_track: int | None = None) -> None:
        """Show ``frame`` of a source (loading its details first when they are not known yet)."""
        source = self._sources.get(source_id)
        if source is None:
            self.runner.submit(loaders.load_sources, self.db, key="player.sources",
                               on_done=lambda rows: self._opened_after_load(rows, source_id, frame, select_track))
            return
        self.pause()
        self._source = source
        combo = self.view.source_combo
        combo.blockSignals(True)
        combo.setCurrentIndex(combo.findData(source_id))
        combo.blockSignals(False)
        slider = self.view.slider
        slider.blockSignals(True)
        slider.setRange(0, frame_count(source) - 1)
        slider.setEnabled(True)
        slider.blockSignals(False)
        self.set_selected(select_track)
        self.seek(frame)

    def _opened_after_load(self, rows: list[SourceInfo], source_id: int, frame: int,
                           select_track: int | None) -> None:
        self._on_sources(rows)
        if source_id not in self._sources:
            self.message.emit(f"source {source_id} is no longer in the store")
            return
        self.open_source(source_id, frame, select_track=select_track)

    # ------------------------------------------------------------------ navigation
    def seek(self, frame: int) -> None:
        if self._source is None:
            return
        self._frame = max(0, min(int(frame), frame_count(self._source) - 1))
        self._awaiting = True
        self.frames.request(FrameRequest(self._source.id, self._source.uri, self._frame))
        slider = self.view.slider
        slider.blockSignals(True)
        slider.setValue(self._frame)
        slider.blockSignals(False)

    def step(self, delta: int) -> None:
        self.pause()
        self.seek(self._frame + delta)

    def _on_slider(self, value: int) -> None:
        if value != self._frame:
            self.seek(value)

    def set_speed(self, speed: float) -> None:
        self._speed = float(speed)
        if self.playing:
            self._timer.start(self._interval_ms())

    def _interval_ms(self) -> int:
        fps = self._source.fps if self._source else 25.0
        return max(5, round(1000.0 / (fps * self._speed)))

    def play(self) -> None:
        if self._source is None:
            return
        if self._frame >= frame_count(self._source) - 1:
            self.seek(0)
        self._timer.start(self._interval_ms())
        self.view.set_playing(True)

    def pause(self) -> None:
        self._timer.stop()
        self.view.set_playing(False)

    def toggle_play(self) -> None:
        self.pause() if self.playing else self.play()

    def _tick(self) -> None:
        if self._source is None:
            return self.pause()
        if self._awaiting:
            return  # decoding is slower than the clock: drop this tick rather than queue work
        if self._frame >= frame_count(self._source) - 1:
            return self.pause()
        self.seek(self._frame + 1)

    # ------------------------------------------------------------------ frames
    @Slot(object)
    def _on_frame(self, result: FrameResult) -> None:
        if self._source is None or result.source_id != self._source.id:
            return
        if result.frame == self._frame:
            self._awaiting = False
        self._shown = result
        self.view.canvas.set_frame(result.image, result.overlays)
        t = self._source.start_time + timedelta(seconds=result.frame / (self._source.fps or 25.0))
        self.view.position_label.setText(f"frame {result.frame} / {frame_count(self._source) - 1} · "
                                         f"{fmt_time(t)} · {len(result.overlays)} people")
        self._describe_selection()
        self.frame_shown.emit(result.source_id, result.frame)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._awaiting = False
        self.pause()
        self.view.canvas.set_message(message)
        self.message.emit(message)

    # ------------------------------------------------------------------ selection
    def click(self, x: float, y: float) -> None:
        overlays = self._shown.overlays if self._shown else ()
        self.set_selected(pick_overlay(overlays, x, y))
        self.track_selected.emit(self._selected)

    def set_selected(self, track_id: int | None) -> None:
        self._selected = track_id
        self.view.canvas.set_selected(track_id)
        self._describe_selection()

    def _selected_overlay(self) -> object | None:
        if self._selected is None or self._shown is None:
            return None
        return next((o for o in self._shown.overlays if o.track_id == self._selected), None)

    def _describe_selection(self) -> None:
        ov = self._selected_overlay()
        if self._selected is None:
            text = "Click a person to select their track"
        elif ov is None:
            text = f"Selected: track #{self._selected} (not in this frame)"
        else:
            text = (f"Selected: track #{self._selected} · "
                    f"{identity_label(ov.identity_id, ov.identity_name)}")  # type: ignore[attr-defined]
        self.view.selection_label.setText(text)
        self.view.search_button.setEnabled(self._selected is not None)
        self.view.identity_button.setEnabled(ov is not None and ov.identity_id is not None)  # type: ignore[attr-defined]

    def _request_search(self) -> None:
        if self._selected is not None:
            self.search_requested.emit(self._selected)

    def _request_identity(self) -> None:
        ov = self._selected_overlay()
        if ov is not None and ov.identity_id is not None:  # type: ignore[attr-defined]
            self.identity_requested.emit(ov.identity_id)  # type: ignore[attr-defined]

    def refresh_frame(self) -> None:
        """Fetch the current frame again (identity labels change after decisions and linking)."""
        if self._source is not None and not self.playing:
            self.seek(self._frame)
