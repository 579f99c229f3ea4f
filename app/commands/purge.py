"""Delete what the retention policy no longer allows: tracks that ended before the cut, with their
observations, embeddings and thumbnails, and the identities left empty; watched and held identities stay.

The cut is ``[retention] days`` of the config (``[retention.cameras] NAME = DAYS`` per camera) unless
``--older-than`` gives it; the purge is recorded in the audit trail and the space is given back to the disk.
"""

from __future__ import annotations

import argparse
import json
import sys

from app.commands.common import add_db_argument, open_db
from app.errors import UserError

HELP = "delete tracks older than the retention policy allows (and give the space back)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--older-than", type=float, metavar="DAYS",
                   help="purge tracks that ended more than DAYS days ago (default: [retention] in the config)")
    p.add_argument("--camera", metavar="NAME", help="only this camera")
    p.add_argument("--dry-run", action="store_true", help="say what would be deleted, delete nothing")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--who", help="operator name recorded in the audit trail (default: the OS user)")
    add_db_argument(p)


def run(args: argparse.Namespace) -> int:
    from app.privacy.retention import camera_cuts, purge

    cfg, db = open_db(args, create=False)
    try:
        if args.older_than is None and not cfg.retention.enabled:
            raise UserError("no retention set: pass --older-than DAYS, or set [retention] days = N in the config")
        cuts = camera_cuts(db, cfg.retention, older_than_days=args.older_than, only_camera=args.camera)
        result = purge(db, cuts, who=args.who, dry_run=args.dry_run)
    finally:
        db.close()
    if args.json:
        out = {**result.plan.summary(), "dry_run": result.dry_run, "tracks_deleted": result.tracks_deleted,
               "identities_deleted": result.identities_deleted, "bytes_before": result.bytes_before,
               "bytes_after": result.bytes_after, "vacuum": result.vacuum, "seconds": round(result.seconds, 3),
               "vacuum_seconds": round(result.vacuum_seconds, 3)}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        sys.stdout.write(result.message + "\n")
    return 0
