"""Register live cameras in the store for ``watch --node`` (add, list, remove); credentials stay out of it."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

from app.commands.common import add_db_argument, open_db
from app.errors import UserError
from app.nodes.registry import (
    Registered,
    add_camera,
    check_name,
    registered_cameras,
    remove_camera,
    stream_ref_for,
)

HELP = "register live cameras for `watch --node` (add, list, remove) and show which node watches each"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="camera_command", metavar="ACTION")
    add = sub.add_parser("add", help="register a camera", description="Register a camera. The URL with its "
                         "password stays out of the store: give an environment variable every node sets "
                         "(--url-env), or a URL without credentials (--url) plus a secrets file on each node.")
    add.add_argument("name", help="camera name (letters, digits, '_', '-', '.')")
    how = add.add_mutually_exclusive_group(required=True)
    how.add_argument("--url-env", metavar="VARIABLE", help="each node reads the stream URL from this variable")
    how.add_argument("--url", help="stream URL without credentials (a node's --secrets file may supply them)")
    add.add_argument("--who", help="operator name for the audit trail (default: the OS user)")
    add_db_argument(add)
    ls = sub.add_parser("list", help="registered cameras, the node watching each, its health and frames/s")
    add_db_argument(ls)
    rm = sub.add_parser("remove", help="unregister a camera (nodes stop watching it; its tracks stay)")
    rm.add_argument("name")
    rm.add_argument("--who", help="operator name for the audit trail (default: the OS user)")
    add_db_argument(rm)


def _age(t: datetime | None, now: datetime) -> str:
    if t is None:
        return "-"
    s = max(0, int((now - t).total_seconds()))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def format_table(cams: list[Registered], now: datetime | None = None) -> str:
    """The ``camera list`` table (a lease whose heartbeat is overdue shows as ``stale``)."""
    now = now or datetime.now(timezone.utc)
    rows = [("CAMERA", "URL", "NODE", "HEALTH", "SINCE", "FPS")]
    for c in cams:
        if c.node is None:
            rows.append((c.name, c.url_redacted or c.stream_ref, "-", "free", "-", "-"))
            continue
        health = c.health or "?"
        if c.expires is not None and c.expires < now:
            health = f"stale ({_age(c.heartbeat, now)} ago)"
        rows.append((c.name, c.url_redacted or c.stream_ref, c.node, health, _age(c.since, now), f"{c.fps:.1f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "camera_command", None)
    if action is None:
        raise UserError("say what to do: reidwatch camera add|list|remove (see reidwatch camera --help)")
    if action == "add":
        check_name(args.name)
        ref = stream_ref_for(url=args.url, url_env=args.url_env)  # refuses credentials before opening anything
        _, db = open_db(args)
        try:
            cam = add_camera(db, args.name, ref, who=args.who)
        finally:
            db.close()
        print(f"registered camera {cam.name} ({cam.url_redacted}); start nodes with "
              f"`reidwatch watch --node NAME` to watch it")
        return 0
    _, db = open_db(args, create=False)
    try:
        if action == "remove":
            remove_camera(db, args.name, who=args.who)
            print(f"unregistered camera {args.name}; its stored tracks stay")
            return 0
        cams = registered_cameras(db)
    finally:
        db.close()
    print(format_table(cams) if cams else "no registered cameras (reidwatch camera add NAME --url-env VARIABLE)")
    return 0
