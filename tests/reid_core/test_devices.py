"""One device resolver (issue 11): the detector, the encoder and the application agree on every request."""

from __future__ import annotations

import pytest
import torch

from reid_core.devices import resolve_device
from reid_core.encoder import pick_device


def test_auto_and_explicit_devices() -> None:
    expected = "cuda:0" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert resolve_device("auto") == resolve_device(None) == resolve_device(" AUTO ") == expected
    assert resolve_device("cpu") == "cpu"


@pytest.mark.parametrize("request_", ["auto", "cpu", "cuda", "cuda:0", "cuda:7", "mps", "tpu", "cuda:x"])
def test_detector_encoder_and_app_agree(request_: str) -> None:
    from app.errors import UserError
    from app.runtime.components import resolve_device as app_resolve
    from trackers.detector import resolve_device as detector_resolve

    try:
        expected = resolve_device(request_)
    except ValueError as exc:
        with pytest.raises(ValueError):
            detector_resolve(request_)
        with pytest.raises(ValueError):
            pick_device(request_)
        with pytest.raises(UserError, match="--device"):
            app_resolve(request_)
        assert request_ in str(exc) and "\n" not in str(exc)
        return
    assert detector_resolve(request_) == app_resolve(request_) == expected
    assert pick_device(request_) == torch.device(expected)


def test_a_device_this_machine_lacks_is_named_in_one_line() -> None:
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"CUDA device\(s\)"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
    else:
        with pytest.raises(ValueError, match="no CUDA device on this machine"):
            resolve_device("cuda:0")
