"""A garbage weights file is one line (issue 11), never PyTorch's paragraph about ``weights_only``."""

from __future__ import annotations

import os

import pytest

from reid_core.backbones import WeightsError, load_failure
from reid_core.weights import load_checkpoint


@pytest.mark.parametrize("content", [os.urandom(4096), b"hello, not weights at all", b"PK\x03\x04broken zip"])
def test_garbage_checkpoint_is_one_line(tmp_path, content: bytes) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(content)
    with pytest.raises(WeightsError) as info:
        load_checkpoint(path)
    text = str(info.value)
    assert "\n" not in text and "weights_only" not in text and len(text) < 400, text
    assert str(path) in text and "not a PyTorch or safetensors weights file" in text


def test_load_failure_keeps_the_reason_but_not_the_paragraph() -> None:
    import pickle

    exc = pickle.UnpicklingError("Weights only load failed. In PyTorch 2.6, we changed the default...\nPlease "
                                 "file an issue ...: WeightsUnpickler error: \n\nUnsupported operand 156\n\nCheck "
                                 "the documentation of torch.load")
    assert load_failure(exc) == "not a PyTorch or safetensors weights file (Unsupported operand 156)"


def test_garbage_detector_weights_are_one_user_error(tmp_path) -> None:
    from dataclasses import replace

    import numpy as np

    from app.config import Config, DetectorConfig
    from app.errors import UserError
    from app.runtime.components import build_detector

    # random bytes fail inside torch in several ways (a pickle protocol, an extension code, a UnicodeDecodeError:
    # ValueErrors that name no file, seen in a CI run with os.urandom): every one is a line naming the file
    kinds = set()
    for seed in (0, 35, 38, 50, 73):  # TypeError, UnicodeDecodeError, OverflowError, MemoryError, ValueError
        path = tmp_path / f"pose{seed}.pt"
        path.write_bytes(np.random.default_rng(seed).integers(0, 256, 2048, dtype=np.uint8).tobytes())
        with pytest.raises(UserError) as info:
            build_detector(replace(Config(), detector=DetectorConfig(weights=str(path))), "cpu")
        assert "\n" not in str(info.value) and str(path) in str(info.value), str(info.value)
        kinds.add(str(info.value).split("(")[1].split(":")[0])
    assert len(kinds) >= 4, kinds  # the seeds cover several of torch's failures, not one
