"""The one device resolver for every model in reidwatch (detector, encoder, training).

``"auto"`` picks the first CUDA device, else Apple's MPS, else the CPU; an explicit device is checked against
the machine. ``trackers`` and ``app`` call :func:`resolve_device` (``app`` turns its ValueError into a
UserError), so the detector and the encoder always land on the same device.
"""

from __future__ import annotations

import torch


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(requested: str | None = "auto") -> str:
    """``"auto"`` (or None) -> ``"cuda:0"``, ``"mps"`` or ``"cpu"``; ``"cuda"`` -> ``"cuda:0"``.

    Raises ValueError, with a message for people, for a device this machine does not have or an unknown name.
    """
    req = (requested or "auto").strip().lower()
    if req == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        return "mps" if _mps_available() else "cpu"
    if req == "cpu":
        return "cpu"
    if req == "mps":
        if not _mps_available():
            raise ValueError(f"device {requested!r}: MPS is not available on this machine (use auto or cpu)")
        return "mps"
    if req == "cuda" or req.startswith("cuda:"):
        index_text = req.partition(":")[2] or "0"
        if not index_text.isdigit():
            raise ValueError(f"device {requested!r}: expected cuda:N with N a number")
        if not torch.cuda.is_available():
            raise ValueError(f"device {requested!r}: no CUDA device on this machine (use auto or cpu)")
        index, count = int(index_text), torch.cuda.device_count()
        if index >= count:
            raise ValueError(f"device {requested!r}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
        return f"cuda:{index}"
    raise ValueError(f"unknown device {requested!r}; use auto, cpu, mps or cuda:N")
