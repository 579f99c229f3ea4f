"""Write a camera's tracks or identities as MOTChallenge text (frame,id,left,top,width,height,score,-1,-1,-1)."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.commands.common import add_db_argument, open_db
from app.errors import UserError
from app.mot.export import format_mot, mot_rows, pick_source


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--camera", required=True, help="camera name")
    p.add_argument("--source", type=int, help="source id, when the camera has several videos")
    p.add_argument("--ids", choices=["track", "identity"], default="track",
                   help="track: one id per stay in view; identity: the linked identity across re-entries/cameras")
    p.add_argument("--no-interpolate", action="store_true", help="do not fill gaps inside a stay")
    p.add_argument("--max-gap", type=int, default=30, help="longest gap (frames) filled by interpolation")
    p.add_argument("--out", required=True, help="output file (- for stdout)")
    add_db_argument(p)


def run(args: argparse.Namespace) -> int:
    _, db = open_db(args, create=False)
    with db.session() as s:
        source = pick_source(s, args.camera, args.source)
        rows = mot_rows(s, source, args.ids, interpolate=not args.no_interpolate, max_gap=args.max_gap)
    text = format_mot(rows)
    if args.out == "-":
        print(text, end="")
    else:
        out = Path(args.out)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
        n_ids = len({r[1] for r in rows})
        print(f"wrote {len(rows)} rows, {n_ids} {args.ids} ids to {out}")
    db.close()
    return 0
