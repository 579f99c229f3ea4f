"""Writing live cameras' batches to the store: one camera's failure never stops another, nothing is dropped.

Each :class:`app.ingest.pipeline.CameraProcessor` keeps a failed batch buffered (bounded) and retries it on its
next flush; these functions flush several cameras and, at shutdown, retry a busy store for a while before
giving up with a count of what could not be stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from app.ingest.pipeline import CameraProcessor

log = logging.getLogger(__name__)


def flush_cameras(procs: Mapping[str, CameraProcessor], frames_of: Callable[[str], int],
                  status: str | None = None) -> tuple[bool, dict[str, list[int]]]:
    """Flush (``status`` None) or close and flush every camera's processor.

    Returns whether every batch was written, and per camera the store ids of the tracks closed by this call.
    """
    ok = True
    closed: dict[str, list[int]] = {}
    for name, proc in list(procs.items()):
        frames = frames_of(name)
        try:
            written = proc.flush(frames) if status is None else proc.close_all(frames, status=status)
        except Exception:  # e.g. the encoder failing on a closed track's crops: retried next time
            log.exception("camera %s: writing to the store failed; the batch stays buffered", name)
            written = False
        ok = ok and written
        closed[name] = list(proc.stats.closed_track_ids)
        proc.stats.closed_track_ids.clear()  # keep memory flat over hours
    return ok, closed


def write_until_done(procs: Mapping[str, CameraProcessor], frames_of: Callable[[str], int], *, status: str,
                     timeout_s: float, on_closed: Callable[[dict[str, list[int]]], None]) -> bool:
    """Close and write everything, retrying a busy store for up to ``timeout_s`` seconds; True when stored."""
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while True:
        ok, closed = flush_cameras(procs, frames_of, status)
        on_closed(closed)
        if ok:
            return True
        if time.monotonic() + delay > deadline:
            lost = sum(p.buffered for p in procs.values())
            log.error("could not write to the store for %.0f s: %d buffered items are not stored", timeout_s, lost)
            return False
        time.sleep(delay)
        delay = min(2 * delay, 5.0)
