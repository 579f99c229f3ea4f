"""Tracker memory is a time (issue 11): ``[tracker] memory_s`` becomes tracker updates at the camera's frame rate.

Before, ``build_tracker(cfg, fps)`` ignored ``fps``: ByteTrack kept a lost track 30 updates, 4.3 s at 7 frames/s
and 1.2 s at 25. The tracker settings come from the config file's ``[tracker]`` section.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.config import Config, TrackerConfig, load_config
from app.errors import UserError
from app.runtime.components import build_tracker


@pytest.mark.parametrize(("fps", "frames"), [(7.0, 30), (25.0, 108), (10.0, 43)])
def test_bytetrack_memory_is_the_same_time_at_any_frame_rate(fps: float, frames: int) -> None:
    tracker = build_tracker(Config(), fps)
    assert tracker.config.track_buffer == frames
    assert tracker._tracker.max_frames_lost == frames  # what ultralytics' BYTETracker actually uses


def test_deepsort_memory_follows_the_same_setting() -> None:
    cfg = replace(Config(), tracker=TrackerConfig(name="deepsort", memory_s=2.0))
    assert build_tracker(cfg, 12.5).config.max_age == 25


def test_tracker_section_of_the_config_file(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[tracker]\nname = "bytetrack"\nmemory_s = 1.5\n[tracker.bytetrack]\nmatch_thresh = 0.7\n')
    cfg = load_config(path)
    assert cfg.tracker.memory_s == 1.5 and cfg.tracker.close_after_s == 4.0
    tracker = build_tracker(cfg, 20.0)
    assert tracker.config.track_buffer == 30 and tracker.config.match_thresh == 0.7
    path.write_text("[tracker]\nmemory_s = 1.5\n[tracker.bytetrack]\ntrack_buffer = 12\n")
    assert build_tracker(load_config(path), 20.0).config.track_buffer == 12, "an explicit count wins"


@pytest.mark.parametrize("text", ["[tracker]\nmemory_s = 0\n", "[tracker]\nmemory_s = 'long'\n",
                                  "[tracker]\nmemroy_s = 2\n"])
def test_bad_tracker_settings_are_user_errors(tmp_path, text: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(UserError):
        load_config(path)


def test_unknown_tracker_setting_is_a_user_error(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[tracker.bytetrack]\nbuffer_frames = 3\n")
    with pytest.raises(UserError, match=r"\[tracker\].*buffer_frames"):
        build_tracker(load_config(path), 25.0)
