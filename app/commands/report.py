"""Export a cross-camera match report: where and when each identity was seen, and the matches behind it.

The format follows the output file's suffix: .html (one self-contained file for any browser), .pdf (A4),
.csv (one row per sighting) or .json (everything, for other tools).
"""

from __future__ import annotations

import argparse

from app.commands.common import add_db_argument, open_db, parse_time
from app.report import (
    DEFAULT_MAX_PICTURES,
    blur_by_default,
    build_report,
    record_export,
    write_report,
    writer_for,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, metavar="FILE", help="report file: .html, .pdf, .csv or .json")
    p.add_argument("--identity", type=int, action="append", metavar="ID",
                   help="report only this identity (repeat for several)")
    p.add_argument("--camera", action="append", metavar="NAME", help="only sightings in this camera (repeatable)")
    p.add_argument("--from", dest="t_from", metavar="TIME",
                   help="only sightings that end at or after TIME (ISO 8601; naive times are UTC)")
    p.add_argument("--to", dest="t_to", metavar="TIME", help="only sightings that start at or before TIME")
    p.add_argument("--confirmed-only", action="store_true",
                   help="only matches an operator confirmed, and the sightings they tie together")
    p.add_argument("--include-paths", action="store_true",
                   help="show full paths of the videos and the database (default: file names only)")
    p.add_argument("--pictures", type=int, default=DEFAULT_MAX_PICTURES, metavar="N",
                   help=f"thumbnails and timelines for the first N identities (default {DEFAULT_MAX_PICTURES})")
    p.add_argument("--blur", dest="blur", action="store_true", default=None,
                   help="blur the heads of people other than the reported identities (default for .html, .pdf)")
    p.add_argument("--no-blur", dest="blur", action="store_false", help="do not blur anyone")
    p.add_argument("--audit", action="store_true", help="include the audit-trail rows about the reported people")
    p.add_argument("--who", help="operator name recorded in the audit trail (default: the OS user)")
    add_db_argument(p)


def run(args: argparse.Namespace) -> int:
    writer_for(args.out)  # a suffix no writer knows fails before the store is read
    t_from, t_to = parse_time(args.t_from, "--from"), parse_time(args.t_to, "--to")
    blur = blur_by_default(args.out) if args.blur is None else args.blur
    _, db = open_db(args, create=False)
    try:
        report = build_report(
            db, identities=args.identity, cameras=args.camera, t_from=t_from, t_to=t_to,
            confirmed_only=args.confirmed_only, include_paths=args.include_paths, max_pictures=args.pictures,
            blur_bystanders=blur, include_audit=args.audit,
        )
        path = write_report(report, args.out)
        record_export(db, report, path, who=args.who, blur_bystanders=blur, include_audit=args.audit)
    finally:
        db.close()
    s = report.summary
    print(  # noqa: T201 - the command's result line
        f"wrote {path}: {_count(s.n_identities, 'identity', 'identities')}, {_count(s.n_sightings, 'sighting')}, "
        f"{_count(len(s.cameras), 'camera')}" + ("" if s.n_identities else " (nothing matched the filters)")
    )
    return 0


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"
