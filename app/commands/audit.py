"""The audit trail: who searched for whom, exported, decided, held, purged, adapted, changed cameras, and when.

``reidwatch audit`` lists rows (filters: --from/--to, --who, --action); ``reidwatch audit verify`` recomputes the
hash chain and exits 1 when a row was edited, inserted or deleted.
"""

from __future__ import annotations

import argparse
import json
import sys

from app.commands.common import add_db_argument, open_db, parse_time

HELP = "list the audit trail, or verify that it is intact"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("verb", nargs="?", choices=["list", "verify"], default="list",
                   help="list (default) or verify the hash chain")
    p.add_argument("--from", dest="t_from", metavar="TIME", help="rows at or after this time (ISO 8601)")
    p.add_argument("--to", dest="t_to", metavar="TIME", help="rows at or before this time (ISO 8601)")
    p.add_argument("--who", help="only this operator's rows")
    p.add_argument("--action", help="only this action (search, export, confirm, purge, ...)")
    p.add_argument("--json", action="store_true", help="JSON, one object per row")
    add_db_argument(p)


def run(args: argparse.Namespace) -> int:
    from app.privacy import audit

    _, db = open_db(args, create=False)
    out = sys.stdout
    try:
        if args.verb == "verify":
            res = audit.verify(db)
            if args.json:
                out.write(json.dumps({"ok": res.ok, "rows": res.n_rows, "head": res.head_hash,
                                      "problems": res.problems}, indent=2) + "\n")
            else:
                for line in res.problems:
                    out.write(f"TAMPERED {line}\n")
                out.write(f"{'intact' if res.ok else 'NOT intact'}: {res.n_rows} rows, head {res.head_hash}\n")
            return 0 if res.ok else 1
        rows = audit.list_rows(db, t_from=parse_time(args.t_from, "--from"), t_to=parse_time(args.t_to, "--to"),
                               who=args.who, action=args.action)
    finally:
        db.close()
    if args.json:
        out.write(json.dumps([{"id": r.id, "at": r.at.isoformat(), "who": r.who, "action": r.action,
                               "details": r.details, "hash": r.hash} for r in rows], indent=2) + "\n")
        return 0
    from app.report.audit_rows import describe

    for r in rows:
        out.write(f"{r.id:>6}  {r.at.isoformat(timespec='seconds')}  {r.who:<16} {r.action:<8} {describe(r)}\n")
    out.write(f"{len(rows)} audit row(s)\n")
    return 0
