"""Show queued ingest jobs (pending, running, done, failed) from the store, from any machine."""

from __future__ import annotations

import argparse
from datetime import datetime

from app.commands.common import add_db_argument, open_db
from app.errors import UserError

HELP = "show queued ingest jobs: pending, running, done and failed"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", action="append", choices=["pending", "running", "done", "failed"],
                   help="only jobs in this state (repeat for several)")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="the newest N jobs (default 50; 0: all)")
    add_db_argument(p)


def _when(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S") if dt else "-"


def run(args: argparse.Namespace) -> int:
    from app.queue import jobs

    if args.limit < 0:
        raise UserError("--limit must be 0 (all jobs) or more")
    _, db = open_db(args, create=False)
    try:
        counts = jobs.count_jobs(db)
        rows = jobs.list_jobs(db, states=args.state, limit=args.limit or None)
    finally:
        db.close()
    print(", ".join(f"{n} {state}" for state, n in counts.items()))
    if not rows:
        print("no jobs" + (" in that state" if args.state and sum(counts.values()) else ""))
        return 0
    print(f"{'job':<12} {'state':<8} {'tries':>5} {'camera':<16} {'worker':<32} {'updated':<19}  file")
    for j in rows:
        updated = j.finished_at or j.started_at or j.created_at
        print(f"{j.id[:12]:<12} {j.state:<8} {j.attempts:>5} {j.camera[:16]:<16} {(j.worker or '-')[:32]:<32} "
              f"{_when(updated):<19}  {j.path}")
        if j.state == "failed" and j.error:
            print(f"{'':<12} error: {j.error}")
    return 0
