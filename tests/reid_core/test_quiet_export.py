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


def _from_tracing(seen) -> list:  # type: ignore[no-untyped-def]
    return [w for w in seen if issubclass(w.category, torch.jit.TracerWarning) or "torch.jit." in str(w.message)]


def test_tracing_warns_without_the_guard_and_not_inside_it():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _trace()
    assert any(issubclass(w.category, torch.jit.TracerWarning) for w in seen)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        before = list(warnings.filters)
        with quiet_tracing():
            _trace()
            warnings.warn("a real problem", UserWarning, stacklevel=1)  # anything else still shows
        assert warnings.filters == before  # the guard leaves Python's filters as they were
    assert not _from_tracing(seen)
    assert [str(w.message) for w in seen if w.category is UserWarning] == ["a real problem"]


def test_a_cached_export_builds_quietly_and_still_raises(tmp_path):
    def build(folder):
        _trace()
        (folder / "model.bin").write_bytes(b"weights")

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        before = list(warnings.filters)
        out = cached_export(tmp_path / "export", build, what="test model")
        assert warnings.filters == before
    assert (out / "model.bin").read_bytes() == b"weights"
    assert not _from_tracing(seen)

    def broken(folder):
        _trace()
        raise RuntimeError("exporter failed")

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        before = list(warnings.filters)
        with pytest.raises(RuntimeError, match="exporter failed"):
            cached_export(tmp_path / "other", broken, what="broken model")
        assert warnings.filters == before  # a failed export leaves the filters as they were too
    assert not _from_tracing(seen)
