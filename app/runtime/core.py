"""The application runtime: the one place that wires jobs from a configuration.

The CLI commands and the desktop application are thin callers of :class:`Runtime`: it builds an ingest job,
a live monitor and a search from the configuration in force, with the process's shared detector and encoder
(:class:`app.runtime.models.ModelCache`), so both front ends record the same settings and never hold two copies
of a model on one device.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from app.config import Config
from app.ingest.job import IngestResult, ProgressFn
from app.live.options import LiveOptions
from app.runtime.components import build_tracker
from app.runtime.models import ModelCache, Models
from app.store import Database

log = logging.getLogger(__name__)

StateFn = Callable[[str], None]  # one line about what the runtime is doing now


@dataclass(frozen=True)
class IngestRequest:
    """One video file to ingest as one camera."""

    path: Path
    camera: str
    start: datetime | None = None  # wall-clock time of the first frame (default: the file's mtime)
    fps: float | None = None  # override the frame rate the file reports
    force: bool = False  # redo a file that was already ingested
    max_frames: int | None = None
    link: bool = True  # stitch occlusion fragments and link identities afterwards


@dataclass(frozen=True)
class IngestOutcome:
    """What an ingest stored, and what linking afterwards made of it."""

    result: IngestResult
    link_summary: str | None = None
    link_error: str | None = None  # the ingest is stored; linking failed with this message

    @property
    def message(self) -> str:
        """One line for the user: the ingest's message, then linking's."""
        extra = f"; {self.link_summary}" if self.link_summary else ""
        if self.link_error:
            extra += f"; linking failed: {self.link_error}"
        return self.result.message + extra


def ingest_settings(cfg: Config, models: Models, *, refind_after_s: float | None) -> dict[str, object]:
    """The settings an ingest records with its source: what was configured (the same from every front end,
    whatever an earlier job's automatic choices were), the encoder's model tag, and the refind rule that ran
    (``refind_s`` 0: the tracker's refinds stood, as in an ingest that does not link). A resumed ingest keeps the
    settings of its first run. Sources stored by earlier versions record the configured ``refind_s`` instead."""
    from app.ingest.pipeline import model_tag

    return {"tracker": cfg.tracker.name, "imgsz": str(cfg.detector.imgsz), "conf": cfg.detector.conf,
            "device": models.device, "encoder": model_tag(models.encoder), "refind_s": refind_after_s or 0,
            "detector_engine": str(getattr(cfg.detector, "engine", "torch")),
            "encoder_engine": str(getattr(cfg.encoder, "engine", "torch"))}


class Runtime:
    """Builds jobs from a configuration; owns one detector and one encoder per device for the process."""

    def __init__(self, config: Config, *, models: ModelCache | None = None) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._models = models or ModelCache()

    @property
    def config(self) -> Config:
        """The configuration in force."""
        with self._lock:
            return self._config

    def set_config(self, config: Config) -> None:
        """Change the configuration in force (the UI's settings); later jobs use it."""
        with self._lock:
            self._config = config

    def models(self, cfg: Config | None = None, *, on_state: StateFn | None = None) -> Models:
        """The shared detector and encoder for ``cfg`` (default: the configuration in force)."""
        return self._models.get(cfg or self.config, on_loading=on_state)

    def site_config(self, db: Database) -> Config:
        """The configuration in force with the store's active (site-adapted) encoder, unless weights were given."""
        from app.training.active import with_active_encoder

        return with_active_encoder(self.config, db)

    def adapt(self, db: Database, options: Any, *, progress: Any = None, on_state: StateFn | None = None,
              who: str | None = None) -> Any:
        """Adapt the encoder to the store's own tracks (``app.runtime.adapt.adapt_store``): train, then unless
        ``options.apply`` is false make it the store's active encoder, re-embed every track and relink.

        The run is recorded in the audit trail (``who``: the operator, default the OS user), also when it fails or
        is interrupted; the store's model folder is kept readable by its owner only.
        """
        from app.privacy.adapt_audit import record_adapt
        from app.runtime.adapt import adapt_store

        try:
            outcome = adapt_store(db, self.config, options, progress=progress, on_state=on_state)
        except BaseException as exc:
            record_adapt(db, who, options, None, error=exc)
            raise
        record_adapt(db, who, options, outcome)
        return outcome

    def tracker(self, fps: float, cfg: Config | None = None) -> Any:
        """A new tracker for one camera at ``fps`` frames per second."""
        return build_tracker(cfg or self.config, fps)

    # ------------------------------------------------------------------ jobs
    def ingest(self, db: Database, request: IngestRequest, *, progress: ProgressFn | None = None,
               on_state: StateFn | None = None) -> IngestOutcome:
        """Ingest one file (validated before any model loads), then stitch and link it unless told not to.

        KeyboardInterrupt from ``progress`` (Ctrl-C, or the UI's cancel) stores what was processed and marks the
        source incomplete before it propagates; the same request later resumes.
        """
        from app.ingest.job import ingest_video
        from app.ingest.video import probe_video

        cfg = self.site_config(db)
        info = probe_video(request.path)  # a clear error before any model is loaded
        models = self.models(cfg, on_state=on_state)
        tracker = self.tracker(request.fps or info.fps, cfg)
        if on_state is not None:
            on_state(f"ingesting {info.path.name}")
        # the parts of a long refind are left to stitching and linking, which only run when the ingest links
        refind = cfg.tracker.refind_after_s if request.link else None
        result = ingest_video(
            db, info.path, camera=request.camera, detector=models.detector, tracker=tracker,
            encoder=models.encoder, start=request.start, fps=request.fps, force=request.force,
            progress=progress, settings=ingest_settings(cfg, models, refind_after_s=refind),
            max_frames=request.max_frames,
            samples_per_track=cfg.encoder.samples_per_track, close_after_s=cfg.tracker.close_after_s,
            drop_scenery=cfg.tracker.scenery,
            refind_after_s=refind,
            training_crops=cfg.ingest.crops_per_track(live=False),
        )
        if result.status == "skipped":
            return IngestOutcome(result)
        if not request.link:
            return IngestOutcome(result, link_summary=self._purge_after_ingest(db, cfg))
        if on_state is not None:
            on_state(f"linking identities after {info.path.name}")
        from app.identity.incremental import link_after_ingest

        try:
            summary = link_after_ingest(db, cfg, result.source_id)
        except Exception as exc:  # the ingest itself is stored: say what failed and keep it
            log.exception("linking after ingest failed")
            return IngestOutcome(result, link_error=f"{type(exc).__name__}: {exc}")
        purged = self._purge_after_ingest(db, cfg)
        return IngestOutcome(result, link_summary="; ".join(x for x in (summary, purged) if x) or None)

    @staticmethod
    def _purge_after_ingest(db: Database, cfg: Config) -> str | None:
        """The retention purge that follows every ingest when ``[retention]`` is set (one line, or None)."""
        from app.privacy.schedule import purge_quietly

        return purge_quietly(db, cfg.retention)

    def live_monitor(self, db: Database, cameras: Sequence[Any], *, options: LiveOptions | None = None,
                     on_alert: Callable[[Any], None] | None = None, on_health: Callable[[Any], None] | None = None,
                     on_frame: Callable[[str, Any, object], None] | None = None,
                     on_state: StateFn | None = None) -> Any:
        """A :class:`app.live.monitor.LiveMonitor` over ``cameras`` (``CameraSpec`` values), not yet running."""
        from app.live.monitor import LiveMonitor

        cfg = self.site_config(db)
        opts = options or LiveOptions()
        models = self.models(cfg, on_state=on_state)
        link = None
        if opts.link:
            from app.identity.incremental import link_new_tracks

            def link(database: Database, names: list[str], track_ids: list[int]) -> object:
                # incremental: closed tracks join the nearest identity (or a new one); `reidwatch link` relinks all
                return link_new_tracks(database, cfg, track_ids)

        return LiveMonitor(
            db=db, cameras=list(cameras), detector=models.detector, encoder=models.encoder,
            tracker_factory=lambda: self.tracker(opts.tracker_fps, cfg), link=link,
            flush_interval_s=opts.flush_interval_s, link_interval_s=opts.link_interval_s,
            close_after_s=opts.close_after_s or cfg.tracker.close_after_s, capture_options=opts.capture_options(),
            drop_scenery=cfg.tracker.scenery,
            on_alert=on_alert, on_health=on_health, on_frame=on_frame,
            training_crops=cfg.ingest.crops_per_track(live=True),
        )

    def search_by_image(self, db: Database, image_bgr: np.ndarray, *, k: int = 20, cameras: list[str] | None = None,
                        t_from: datetime | None = None, t_to: datetime | None = None, who: str | None = None,
                        image_name: str | None = None) -> list[Any]:
        """Tracks that look like the largest person in ``image_bgr``, closest first (shared models).

        The search is recorded in the audit trail (``who``: the operator, default the OS user) with the image's
        SHA-256, its file name when given, the filters and the results.
        """
        from app.identity.search import search_by_image
        from app.privacy.search_audit import record_search

        models = self.models(self.site_config(db))
        hits = search_by_image(db, models.detector, models.encoder, image_bgr, k=k, cameras=cameras,
                               t_from=t_from, t_to=t_to)
        record_search(db, who, hits, image=image_bgr, image_name=image_name, k=k, cameras=cameras, t_from=t_from,
                      t_to=t_to)
        return hits

    def search_by_track(self, db: Database, track_id: int, *, k: int = 20, cameras: list[str] | None = None,
                        t_from: datetime | None = None, t_to: datetime | None = None,
                        who: str | None = None) -> list[Any]:
        """Tracks that look like stored track ``track_id``, closest first (no model needed); audited like
        :meth:`search_by_image`."""
        from app.identity.search import search_by_track
        from app.privacy.search_audit import record_search

        hits = search_by_track(db, track_id, k=k, cameras=cameras, t_from=t_from, t_to=t_to)
        record_search(db, who, hits, track_id=track_id, k=k, cameras=cameras, t_from=t_from, t_to=t_to)
        return hits
