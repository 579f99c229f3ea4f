"""Arguments and helpers shared by sub-commands."""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from app.config import Config, load_config, resolve_db
from app.errors import UserError
from app.store import Database, open_database


def add_db_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="PATH|URL", help="database: a SQLite file, or a shared PostgreSQL database "
                   "postgresql://user@host/dbname (default: $REIDWATCH_DB, the config file, or the platform data "
                   "dir, e.g. ~/.local/share/reidwatch/reidwatch.db)")


def add_device_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None, help="auto (default: GPU when there is one), cpu, or cuda:N")


def add_engine_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=["auto", "torch", "openvino", "onnxruntime"], default=None,
                   help="inference engine of the detector and the encoder (default from config: auto, the "
                        "fastest installed engine for the device, measured once per machine)")


def config_from_args(args: argparse.Namespace) -> Config:
    cfg = load_config(getattr(args, "config", None))
    if getattr(args, "device", None):
        cfg = replace(cfg, device=args.device)
    if getattr(args, "engine", None):
        cfg = replace(cfg, detector=replace(cfg.detector, engine=args.engine),
                      encoder=replace(cfg.encoder, engine=args.engine))
    return replace(cfg, db=resolve_db(getattr(args, "db", None), cfg))


def open_db(args: argparse.Namespace, *, create: bool = True) -> tuple[Config, Database]:
    cfg = config_from_args(args)
    return cfg, open_database(cfg.db, create=create)


def parse_time(text: str | None, what: str = "time") -> datetime | None:
    """ISO 8601 (2026-11-27T10:00:00, optionally with a zone); naive times are taken as UTC."""
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"cannot read {what} {text!r}: use ISO 8601, e.g. 2026-11-27T10:00:00") from None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt


def describe_undo(undone: object | None) -> str:
    """The line `match undo` and `identity undo` print."""
    if undone is None:
        return "nothing to undo\n"
    return f"undid decision {undone.id} ({undone.kind} by {undone.who})\n"  # type: ignore[attr-defined]


def run_until_stopped(runner: Any, db: Database, cfg: Config, duration: float | None, stopped: str) -> Any:
    """Run a live ``runner`` (a monitor or a node: ``run(duration)``, ``stop()``, ``stats``) until its duration
    ends, SIGTERM or Ctrl-C (then log ``stopped``), with the daily retention purge running beside it; its stats."""
    import logging
    import signal
    import threading

    from app.privacy.schedule import DailyPurge

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    retention = DailyPurge(db, cfg.retention).start()  # with [retention] set: at start, then once a day
    try:
        return runner.run(duration)
    except KeyboardInterrupt:
        runner.stop()
        logging.getLogger(__name__).info("stopped by Ctrl-C; %s", stopped)
        return runner.stats
    finally:
        retention.stop()


def print_camera_stats(cameras: dict[str, Any]) -> None:
    """One line per live camera: frames processed, tracks stored, last state."""
    for name, st in cameras.items():
        print(f"{name}: {st.frames} frames processed, {st.tracks} tracks stored, last state {st.last_health}")
