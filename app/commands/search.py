"""Find a person across cameras: tracks ranked by PGFA distance to a stored track or to an example image."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from app.commands.common import add_db_argument, add_device_argument, open_db, parse_time
from app.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--track", type=int, metavar="ID", help="a stored track showing the person")
    what.add_argument("--image", metavar="FILE", help="a photo or frame: the largest person in it is the query")
    p.add_argument("--camera", action="append", help="only tracks of this camera (repeat, or A,B)")
    p.add_argument("--from", dest="t_from", metavar="TIME", help="only tracks seen at or after this time (ISO 8601)")
    p.add_argument("--to", dest="t_to", metavar="TIME", help="only tracks seen at or before this time (ISO 8601)")
    p.add_argument("-k", type=int, default=20, help="number of candidates (default 20)")
    p.add_argument("--weights", help="PGFA checkpoint for --image (must be the one the store was built with)")
    p.add_argument("--who", help="operator name recorded in the audit trail (default: the OS user)")
    add_db_argument(p)
    add_device_argument(p)


def run(args: argparse.Namespace) -> int:
    from app.runtime import Runtime

    cameras = [c.strip() for v in args.camera for c in v.split(",") if c.strip()] if args.camera else None
    t_from, t_to = parse_time(args.t_from, "--from"), parse_time(args.t_to, "--to")
    if args.k < 1:
        raise UserError(f"-k must be at least 1, not {args.k}")
    image = None
    if args.image is not None:  # read before opening anything heavy
        from pathlib import Path

        import cv2

        if not Path(args.image).is_file():
            raise UserError(f"no image file {args.image}")
        image = cv2.imread(args.image, cv2.IMREAD_COLOR)
        if image is None:
            raise UserError(f"cannot read image {args.image} (missing, or not an image file)")
    cfg, db = open_db(args, create=False)
    if args.weights:
        cfg = replace(cfg, encoder=replace(cfg.encoder, weights=args.weights))
    runtime = Runtime(cfg)
    try:
        if image is None:
            hits = runtime.search_by_track(db, args.track, k=args.k, cameras=cameras, t_from=t_from, t_to=t_to,
                                           who=args.who)
            query = f"track {args.track}"
        else:
            hits = runtime.search_by_image(db, image, k=args.k, cameras=cameras, t_from=t_from, t_to=t_to,
                                           who=args.who, image_name=args.image)
            query = args.image
    finally:
        db.close()
    out = sys.stdout
    out.write(f"{'rank':>4} {'distance':>9} {'track':>7} {'identity':>9}  {'camera':<12} {'start':<25} "
              f"{'end':<25} {'frame':>6} {'sure':>5}  name\n")
    for rank, h in enumerate(hits, start=1):
        ident = str(h.identity_id) if h.identity_id is not None else "-"
        sure = "-" if h.confidence is None else f"{100 * h.confidence:.0f}%"  # app.identity.confidence
        out.write(f"{rank:>4} {h.distance:>9.4f} {h.track_id:>7} {ident:>9}  {h.camera:<12} "
                  f"{h.start_time.isoformat(timespec='seconds'):<25} {h.end_time.isoformat(timespec='seconds'):<25} "
                  f"{h.best_frame:>6} {sure:>5}  {h.identity_name or ''}\n")
    out.write(f"{len(hits)} candidate(s) for {query}\n")
    return 0
