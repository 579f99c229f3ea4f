"""Monitor live RTSP cameras: detect, track, embed and link live, storing everything as for files."""

from __future__ import annotations

import argparse
import logging

from app.commands.common import (
    add_db_argument,
    add_device_argument,
    add_engine_argument,
    open_db,
    print_camera_stats,
    run_until_stopped,
)
from app.errors import UserError
from app.live.monitor import CameraSpec
from app.live.options import LiveOptions
from app.live.redact import parse_camera_specs
from app.ops.metrics import add_metrics_arguments, serve_from_args
from app.runtime import Runtime

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--camera", action="append", metavar="NAME=URL",
                   help="a camera to watch, e.g. lobby=rtsp://user:pass@host:554/stream (repeat for several; "
                        "NAME=env:VAR reads the URL from an environment variable, keeping it off the command line)")
    p.add_argument("--node", metavar="NAME",
                   help="instead of --camera: serve the cameras registered with `reidwatch camera add` that no "
                        "other live node holds, as node NAME (leases; a dead node's cameras are taken over)")
    p.add_argument("--max-cameras", type=int, metavar="N", help="with --node: watch at most N cameras")
    p.add_argument("--secrets", metavar="FILE",
                   help="with --node: TOML file of camera = \"rtsp://user:pass@...\" lines (mode 0600)")
    p.add_argument("--poll-interval", type=float, default=3.0, metavar="S",
                   help="with --node: seconds between heartbeats and looks for free cameras (default 3)")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--transport", default="tcp", choices=["tcp", "udp"], help="RTSP transport (default tcp)")
    p.add_argument("--stall-timeout", type=float, default=5.0, help="seconds without a frame before reconnecting")
    p.add_argument("--backoff-max", type=float, default=10.0,
                   help="longest wait between reconnection attempts, in seconds (default 10)")
    p.add_argument("--link-interval", type=float, default=20.0, help="seconds between live linking runs")
    p.add_argument("--no-link", action="store_true", help="store tracks without linking identities")
    add_db_argument(p)
    add_metrics_arguments(p)
    add_device_argument(p)
    add_engine_argument(p)


def live_options(args: argparse.Namespace) -> LiveOptions:
    """The monitor's options from the command line (a bad value is one UserError line)."""
    try:
        return LiveOptions(link=not args.no_link, link_interval_s=args.link_interval, transport=args.transport,
                           stall_timeout_s=args.stall_timeout, backoff_max_s=args.backoff_max,
                           backoff_initial_s=min(0.5, args.backoff_max))
    except ValueError as exc:
        raise UserError(str(exc).replace("_s:", ":")) from None


def run(args: argparse.Namespace) -> int:
    if args.node is not None and args.camera:
        raise UserError("give --camera NAME=URL (repeatable) or --node NAME (registered cameras), not both")
    if args.node is None and not args.camera:
        raise UserError("give the cameras to watch: --camera NAME=URL (repeatable), or --node NAME to serve the "
                        "cameras registered with `reidwatch camera add`")
    if args.node is None and (args.max_cameras is not None or args.secrets is not None):
        raise UserError("--max-cameras and --secrets go with --node")
    specs = [CameraSpec(name, url) for name, url in parse_camera_specs(args.camera or [])]
    if args.duration is not None and args.duration <= 0:
        raise UserError("--duration must be positive")
    serve_from_args(args)  # --metrics-port (app.ops.metrics)
    if args.node is not None:
        from app.commands.watch_node import run_node

        return run_node(args)
    cfg, db = open_db(args)
    options = live_options(args)
    monitor = Runtime(cfg).live_monitor(db, specs, options=options, on_state=lambda text: log.info("%s", text))
    stats = run_until_stopped(monitor, db, cfg, args.duration, "everything processed is stored")
    print_camera_stats(stats.cameras)
    if stats.alerts:
        print(f"{len(stats.alerts)} watchlist alert(s)")
    db.close()
    return 0
