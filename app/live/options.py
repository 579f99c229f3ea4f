"""How a live monitor runs: flush and link intervals, capture timeouts, tracker memory."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class LiveOptions:
    """How the monitor runs (the defaults are ``reidwatch watch``'s); tests shorten the timeouts."""

    flush_interval_s: float = 2.0
    link_interval_s: float = 20.0
    close_after_s: float | None = None  # a track unseen this long is stored (None: tracker memory + 1 s)
    link: bool = True  # link closed tracks into identities (needed for watchlist alerts)
    transport: str = "tcp"
    stall_timeout_s: float = 5.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 10.0
    tracker_fps: float = 25.0  # the processing rate the tracker's memory (``[tracker] memory_s``) is sized for
    health_refresh_ms: int = 1000  # how often the UI refreshes the badges' counters and durations

    def __post_init__(self) -> None:
        for name in ("flush_interval_s", "link_interval_s", "stall_timeout_s", "backoff_initial_s",
                     "backoff_max_s", "tracker_fps"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: expected > 0, got {getattr(self, name)}")
        if self.close_after_s is not None and not self.close_after_s > 0:
            raise ValueError(f"close_after_s: expected > 0, got {self.close_after_s}")
        if self.health_refresh_ms < 1:
            raise ValueError("health_refresh_ms: expected >= 1")
        if self.transport not in ("tcp", "udp"):
            raise ValueError(f"transport: expected tcp or udp, got {self.transport!r}")

    def capture_options(self) -> dict[str, object]:
        """Keyword arguments for :class:`app.live.capture.CameraCapture`."""
        return {"transport": self.transport, "stall_timeout_s": self.stall_timeout_s,
                "backoff_initial_s": self.backoff_initial_s, "backoff_max_s": self.backoff_max_s}
