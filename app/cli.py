"""The ``reidwatch`` command: a thin dispatcher over ``app.commands.<name>`` modules and over the commands
that other installed packages register in the ``reidwatch.commands`` entry-point group (the desktop
application registers ``ui`` there: ``app`` never names ``ui``)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from app import __version__
from app.errors import UserError
from app.live.redact import RedactingFilter, redact_every_record

# sub-command -> (module, one-line help). Modules are imported lazily so that
# `reidwatch --help` stays fast and a heavy dependency of one command never slows another.
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("app.commands.ingest", "detect, track and embed people in a video file and store them"),
    "worker": ("app.commands.worker", "take queued ingest jobs (`ingest --queue`) from the broker and ingest them"),
    "queue": ("app.commands.queue", "show queued ingest jobs: pending, running, done and failed"),
    "export-mot": ("app.commands.export_mot", "write a camera's tracks or identities as MOTChallenge text"),
    "eval-mot": ("app.commands.eval_mot", "score a MOTChallenge result against ground truth (MOTA, IDF1, HOTA)"),
    "link": ("app.commands.link", "link tracks into identities across occlusions, re-entries and cameras"),
    "search": ("app.commands.search", "find a person across cameras by track or example image"),
    "match": ("app.commands.match", "confirm or reject a match between two tracks"),
    "identity": ("app.commands.identity", "rename, merge or split identities"),
    "report": ("app.commands.report", "export a cross-camera match report (HTML, PDF, CSV, JSON)"),
    "watch": ("app.commands.watch", "monitor live RTSP cameras"),
    "camera": ("app.commands.camera", "register live cameras for `watch --node` and show which node watches each"),
    "train": ("app.commands.train", "train the PGFA re-identification model on a standard dataset"),
    "eval-reid": ("app.commands.eval_reid", "evaluate re-identification (CMC, mAP) on a standard dataset"),
    "adapt": ("app.commands.adapt", "learn this site's people from the store's own tracks (no labels), re-embed, relink"),
    "reembed": ("app.commands.reembed", "re-embed every stored track with a PGFA checkpoint and relink"),
    "info": ("app.commands.info", "show the store's contents, the device and the resolved weights"),
    "purge": ("app.commands.purge", "delete tracks older than the retention policy allows"),
    "audit": ("app.commands.audit", "list the audit trail (who searched for whom), or verify it"),
}

log = logging.getLogger("reidwatch")


PLUGIN_GROUP = "reidwatch.commands"


def plugin_commands() -> dict[str, tuple[str, str]]:
    """Commands registered by installed packages: entry point name -> (module, one-line help).

    The entry point names a module with ``add_arguments(parser)``, ``run(args)`` and a ``HELP`` line. A
    registered command whose module fails to import is a packaging error, and it shows as one.
    """
    out: dict[str, tuple[str, str]] = {}
    for ep in entry_points(group=PLUGIN_GROUP):
        if ep.name in COMMANDS:
            log.warning("entry point %s=%s ignored: %s is a built-in command", ep.name, ep.value, ep.name)
            continue
        out[ep.name] = (ep.value, "")
    return out


def _available() -> dict[str, tuple[str, str]]:
    return {**COMMANDS, **plugin_commands()}


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    """The top-level parser with one sub-parser per built-in and plug-in command, and command name -> module."""
    parser = argparse.ArgumentParser(
        prog="reidwatch",
        description="Person re-identification for video surveillance: ingest videos and live cameras, "
        "link people into identities across occlusions, re-entries and cameras, search, review and report.",
    )
    parser.add_argument("--version", action="version", version=f"reidwatch {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("--config", metavar="TOML", help="configuration file (default: the platform config dir)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules: dict[str, object] = {}
    for name, (module_name, help_) in _available().items():
        module = importlib.import_module(module_name)
        help_ = help_ or getattr(module, "HELP", "")
        p = sub.add_parser(name, help=help_, description=(module.__doc__ or help_).strip().splitlines()[0])
        module.add_arguments(p)
        modules[name] = module
    return parser, modules


def setup_logging(verbose: int, quiet: bool) -> None:
    """Route all logging to stderr through the redacting filter; -v = INFO (default), -vv = DEBUG, -q = WARNING."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose >= 2 else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    handler.addFilter(RedactingFilter())  # fail closed: no handler ever goes without the redacting filter
    redact_every_record()  # and handlers that libraries add later see redacted records too
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if verbose < 2:
        for noisy in ("ultralytics", "PIL", "matplotlib", "alembic", "urllib3", "faiss"):  # faiss: CPU probing
            logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``reidwatch`` command; returns the exit status (2 for a user error, 130 for Ctrl-C)."""
    os.environ.setdefault("YOLO_VERBOSE", "False")
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    setup_logging(args.verbose, args.quiet)
    try:
        return int(modules[args.command].run(args) or 0)  # type: ignore[attr-defined]
    except UserError as exc:
        print(f"reidwatch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reidwatch: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if "database is locked" not in str(getattr(exc, "orig", None) or exc):
            raise
        print("reidwatch: error: the store is busy: another reidwatch program kept it locked for over a minute; "
              "nothing was changed, run the command again", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
