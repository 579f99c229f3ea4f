"""Automatic purges: after each ingest, and once a day (the first at start) while ``watch`` runs."""

from __future__ import annotations

import logging
import threading

from app.config import RetentionConfig
from app.store import Database

log = logging.getLogger(__name__)

DAY_S = 24 * 3600.0


def purge_quietly(db: Database, policy: RetentionConfig, *, who: str | None = None) -> str | None:
    """The policy's purge; a failure is logged, never raised (the ingest or the monitoring goes on)."""
    if not policy.enabled:
        return None
    from app.privacy.retention import purge_by_policy

    try:
        result = purge_by_policy(db, policy, who=who)
    except Exception as exc:  # a purge must never take the ingest or the live cameras down
        log.exception("retention purge failed")
        return f"retention purge failed: {exc}"
    if result is None or not result.tracks_deleted:
        return None
    return f"retention: {result.message}"


class DailyPurge:
    """A daemon thread that purges by the policy at start and then every ``interval_s`` seconds until stopped."""

    def __init__(self, db: Database, policy: RetentionConfig, *, interval_s: float = DAY_S,
                 who: str | None = None) -> None:
        self._db, self._policy, self._interval, self._who = db, policy, float(interval_s), who
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention-purge", daemon=True)
        self.runs = 0

    def start(self) -> DailyPurge:
        """Start the thread when a retention is set (otherwise do nothing); returns self."""
        if self._policy.enabled:
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop and wait for a purge in progress (up to ``timeout_s``)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = purge_quietly(self._db, self._policy, who=self._who)
            self.runs += 1
            if msg:
                log.info("%s", msg)
            self._stop.wait(self._interval)
