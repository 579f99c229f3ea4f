"""An export tells the user one log line, not a page of what tracing tells a model's developer."""

from __future__ import annotations

import warnings

import pytest
import torch

from reid_core.engines import cached_export, quiet_tracing


class Branchy(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != 3:  # a Python branch on a shape: tracing warns about it
            raise ValueError("three channels")
        return x * 2


def _trace() -> None:
    torch.jit.trace(Branchy(), torch.zeros(1, 3, 4, 4))


def test_tracing_warns_without_the_guard_and_not_inside_it():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _trace()
    assert any(issubclass(w.category, torch.jit.TracerWarning) for w in seen)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with quiet_tracing():
            _trace()
            warnings.warn("a real problem", UserWarning, stacklevel=1)  # anything else still shows
    assert [str(w.message) for w in seen] == ["a real problem"]


def test_a_cached_export_builds_quietly_and_still_raises(tmp_path):
    def build(folder):
        _trace()
        (folder / "model.bin").write_bytes(b"weights")

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        out = cached_export(tmp_path / "export", build, what="test model")
    assert (out / "model.bin").read_bytes() == b"weights"
    assert not [w for w in seen if issubclass(w.category, torch.jit.TracerWarning)]

    def broken(folder):
        raise RuntimeError("exporter failed")

    with pytest.raises(RuntimeError, match="exporter failed"):
        cached_export(tmp_path / "other", broken, what="broken model")
