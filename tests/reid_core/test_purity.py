"""reid_core stays pure torch + numpy: importing it loads no GUI, video, DB or detector stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("cv2", "PySide6", "sqlalchemy", "ultralytics", "deep_sort_realtime", "app", "ui", "trackers",
             "openvino", "onnxruntime", "onnx")  # the engines are imported lazily, when an encoder runs on one

SCRIPT = """
import json, sys
import reid_core, reid_core.encoder, reid_core.model, reid_core.matching, reid_core.pose, reid_core.weights
import reid_core.backbones, reid_core.datasets, reid_core.metrics, reid_core.synthetic, reid_core.train
import reid_core.transforms, reid_core.engines, reid_core.export, reid_core.colour
import reid_core.adapt.augment, reid_core.adapt.features, reid_core.adapt.trainer, reid_core.adapt.views
from reid_core.weights import deepsort_mobilenetv2_path
deepsort_mobilenetv2_path()  # finding the weight file must not import the package
print(json.dumps(sorted(m.split(".")[0] for m in sys.modules)))
"""


def test_importing_reid_core_loads_no_heavy_backend() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert "torch" in loaded and "reid_core" in loaded  # the probe really imported the package
    assert not loaded & set(FORBIDDEN), f"reid_core imported {sorted(loaded & set(FORBIDDEN))}"
