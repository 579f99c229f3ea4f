"""List, show, rename, merge, split and watch identities (people linked across tracks and cameras)."""

from __future__ import annotations

import argparse
import sys

from app.commands.common import add_db_argument, describe_undo, open_db, parse_time
from app.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = sub.add_parser("list", help="identities, most recently seen first")
    q.add_argument("--camera", action="append", help="only identities seen on this camera (repeat, or A,B)")
    q.add_argument("--from", dest="t_from", metavar="TIME", help="seen at or after this time (ISO 8601)")
    q.add_argument("--to", dest="t_to", metavar="TIME", help="seen at or before this time (ISO 8601)")
    q.add_argument("--watched", action="store_true", help="only identities on the watchlist")
    add_db_argument(q)
    q = sub.add_parser("show", help="one identity: its tracks and links")
    q.add_argument("id", type=int, metavar="ID")
    add_db_argument(q)
    q = sub.add_parser("rename", help="name an identity (an empty name clears it)")
    q.add_argument("id", type=int, metavar="ID")
    q.add_argument("name", metavar="NAME")
    q = sub.add_parser("merge", help="join identities into the first one given")
    q.add_argument("ids", type=int, nargs="+", metavar="ID")
    q = sub.add_parser("split", help="take a track out of an identity into a new one")
    q.add_argument("id", type=int, metavar="ID")
    q.add_argument("--track", type=int, required=True, metavar="TRACK", help="the track to take out")
    q = sub.add_parser("watch", help="put an identity on the watchlist (live monitoring alerts on it)")
    q.add_argument("id", type=int, metavar="ID")
    q.add_argument("--off", action="store_true", help="take it off the watchlist")
    q = sub.add_parser("hold", help="put an identity under legal hold: retention purges keep its tracks")
    q.add_argument("id", type=int, metavar="ID")
    q.add_argument("--reason", help="why (required to put on hold; recorded in the audit trail)")
    q.add_argument("--off", action="store_true", help="lift the hold")
    q = sub.add_parser("undo", help="undo the last decision (of any kind)")
    for name in ("rename", "merge", "split", "watch", "hold", "undo"):
        sp = sub.choices[name]
        sp.add_argument("--who", help="operator name recorded with the decision (default: the OS user)")
        add_db_argument(sp)


def _cameras(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [c.strip() for v in values for c in v.split(",") if c.strip()]


def _when(dt) -> str:  # type: ignore[no-untyped-def]
    return dt.isoformat(timespec="seconds") if dt is not None else "-"


def run(args: argparse.Namespace) -> int:
    from app.identity import decisions
    from app.store import queries

    _, db = open_db(args, create=False)
    out = sys.stdout
    try:
        if args.action == "list":
            rows = queries.list_identities(db, cameras=_cameras(args.camera), t_from=parse_time(args.t_from, "--from"),
                                           t_to=parse_time(args.t_to, "--to"))
            if args.watched:
                rows = [r for r in rows if r.watch]
            out.write(f"{'id':>6} {'tracks':>6}  {'first seen':<25} {'last seen':<25} {'cameras':<20} name\n")
            for r in rows:
                name = (r.name or "") + (" [watch]" if r.watch else "")
                out.write(f"{r.id:>6} {r.n_tracks:>6}  {_when(r.first_seen):<25} {_when(r.last_seen):<25} "
                          f"{','.join(r.cameras):<20} {name}\n")
            out.write(f"{len(rows)} identities\n")
        elif args.action == "show":
            ident = queries.identity(db, args.id)
            if ident is None:
                raise UserError(f"no identity {args.id} in the store")
            out.write(f"identity {ident.id}: {ident.name or '(no name)'}{' [watch]' if ident.watch else ''}, "
                      f"{ident.n_tracks} tracks on {', '.join(ident.cameras) or 'no camera'}\n")
            from app.privacy.hold import hold_of

            held = hold_of(db, args.id)
            if held is not None and held.hold:
                out.write(f"  legal hold: {held.reason} (retention purges keep its tracks)\n")
            for t in queries.identity_tracks(db, args.id):
                out.write(f"  track {t.id:>6}  camera {t.camera:<12} source {t.source_id:>4}  "
                          f"frames {t.first_frame}-{t.last_frame}  {_when(t.start_time)} .. {_when(t.end_time)}\n")
            for x in queries.matches_for_identity(db, args.id):
                out.write(f"  link {x.track_a} - {x.track_b}  distance {x.distance:.4f}  {x.kind}  {x.status}\n")
        elif args.action == "rename":
            d = decisions.rename_identity(db, args.id, args.name, who=args.who)
            out.write(f"identity {d.identity_id} renamed to {args.name!r}\n" if args.name.strip()
                      else f"identity {d.identity_id}: name cleared\n")
        elif args.action == "merge":
            d = decisions.merge_identities(db, args.ids, who=args.who)
            out.write(f"merged identities {', '.join(map(str, args.ids))} into {d.identity_id}\n")
        elif args.action == "split":
            d = decisions.split_identity(db, args.id, args.track, who=args.who)
            out.write(f"track {args.track} split from identity {args.id} into new identity {d.identity_id}\n")
        elif args.action == "watch":
            d = decisions.set_watch(db, args.id, not args.off, who=args.who)
            out.write(f"identity {d.identity_id} {'taken off' if args.off else 'put on'} the watchlist\n")
        elif args.action == "hold":
            from app.privacy.hold import set_hold

            h = set_hold(db, args.id, not args.off, reason=args.reason, who=args.who)
            out.write(f"identity {h.identity_id} under legal hold: {h.reason}\n" if h.hold
                      else f"identity {h.identity_id}: legal hold lifted\n")
        else:
            undone = decisions.undo_last(db, who=args.who)
            out.write(describe_undo(undone))
    finally:
        db.close()
    return 0
