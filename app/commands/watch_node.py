"""``reidwatch watch --node NAME``: serve the registered cameras no other live node holds (app.nodes)."""

from __future__ import annotations

import argparse
import logging

from app.commands.common import open_db, print_camera_stats, run_until_stopped
from app.errors import UserError
from app.runtime import Runtime

log = logging.getLogger(__name__)


def run_node(args: argparse.Namespace) -> int:
    """Run one node until Ctrl-C, SIGTERM or ``--duration``; its cameras are given back on exit."""
    from app.commands.watch import live_options
    from app.nodes.leases import open_leases
    from app.nodes.node import CameraNode
    from app.nodes.registry import check_name, load_secrets

    try:
        check_name(args.node)
    except UserError:
        raise UserError(f"bad node name {args.node!r}: use letters, digits, '_', '-', '.' (at most 64)") from None
    if args.max_cameras is not None and args.max_cameras < 1:
        raise UserError("--max-cameras must be at least 1")
    if not args.poll_interval > 0:
        raise UserError("--poll-interval must be positive")
    secrets = load_secrets(args.secrets) if args.secrets else {}
    options = live_options(args)
    cfg, db = open_db(args)
    leases = open_leases(db, args.node, ttl_s=max(15.0, 5 * args.poll_interval))
    try:
        leases.start()  # before the models load: a duplicate name is refused at once, peers count this node
        monitor = Runtime(cfg).live_monitor(db, [], options=options, on_state=lambda text: log.info("%s", text))
        node = CameraNode(db, leases, monitor, max_cameras=args.max_cameras, poll_s=args.poll_interval,
                          secrets=secrets)
    except BaseException:
        leases.close()
        db.close()
        raise
    stats = run_until_stopped(node, db, cfg, args.duration,
                              "everything processed is stored and the cameras are free again")
    print_camera_stats(stats.monitor.cameras if stats.monitor is not None else {})
    print(f"node {args.node}: took {len(stats.taken)} camera lease(s), lost or gave up {len(stats.lost)}")
    db.close()
    return 0
