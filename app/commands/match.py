"""Confirm or reject a link between two tracks, list links awaiting review, undo the last decision."""

from __future__ import annotations

import argparse
import sys

from app.commands.common import add_db_argument, describe_undo, open_db


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, help_ in (("confirm", "the two tracks are the same person (later linking keeps them together)"),
                        ("reject", "the two tracks are different people (later linking keeps them apart)")):
        q = sub.add_parser(name, help=help_, description=help_)
        q.add_argument("track_a", type=int, metavar="TRACK_A")
        q.add_argument("track_b", type=int, metavar="TRACK_B")
        q.add_argument("--who", help="operator name recorded with the decision (default: the OS user)")
        add_db_argument(q)
    q = sub.add_parser("list", help="automatic links not yet reviewed, closest first")
    q.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    add_db_argument(q)
    q = sub.add_parser("undo", help="undo the last decision (of any kind)")
    q.add_argument("--who", help="operator name recorded with the undo (default: the OS user)")
    add_db_argument(q)


def run(args: argparse.Namespace) -> int:
    from app.identity import decisions
    from app.store import queries

    _, db = open_db(args, create=False)
    out = sys.stdout
    try:
        if args.action == "confirm":
            d = decisions.confirm_match(db, args.track_a, args.track_b, who=args.who)
            out.write(f"confirmed: tracks {d.track_a} and {d.track_b} are one person (identity {d.identity_id})\n")
        elif args.action == "reject":
            d = decisions.reject_match(db, args.track_a, args.track_b, who=args.who)
            moved = f"; track {d.track_b} moved to new identity {d.identity_id}" if d.identity_id else ""
            out.write(f"rejected: tracks {d.track_a} and {d.track_b} are different people{moved}\n")
        elif args.action == "list":
            rows = queries.pending_matches(db, limit=max(1, args.limit))
            out.write(f"{'match':>6} {'track_a':>8} {'track_b':>8} {'distance':>9}  kind\n")
            for x in rows:
                out.write(f"{x.id:>6} {x.track_a:>8} {x.track_b:>8} {x.distance:>9.4f}  {x.kind}\n")
            out.write(f"{len(rows)} link(s) awaiting review\n")
        else:
            undone = decisions.undo_last(db, who=args.who)
            out.write(describe_undo(undone))
    finally:
        db.close()
    return 0
