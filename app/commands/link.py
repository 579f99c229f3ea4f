"""Link tracks into identities across occlusions, re-entries and cameras, respecting operators' decisions."""

from __future__ import annotations

import argparse
import sys

from app.commands.common import add_db_argument, open_db
from app.errors import UserError
from reid_core.track_descriptors import AGGREGATIONS


def camera_list(text: str | None) -> list[str] | None:
    """"A,B" -> ["A", "B"]; None stays None."""
    if text is None:
        return None
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise UserError("--cameras needs at least one camera name, e.g. --cameras gate,hall")
    return names


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cameras", metavar="A,B", help="only link the tracks of these cameras (default: all)")
    p.add_argument("--threshold", type=float, help="PGFA distance below which tracks are linked "
                   "(default: calibrated from the store: pairs known to be different vs known to be the same)")
    p.add_argument("--aggregation", choices=("auto", *AGGREGATIONS), default="auto",
                   help="how two tracks' samples become one distance: pair_min (closest pair of samples), "
                   "pair_mean, visible_mean (per stripe, the mean of the samples where it was visible), mean; "
                   "default auto: pair_min up to 6000 samples in all, visible_mean beyond")
    p.add_argument("--method", choices=("auto", "dense", "sparse"), default="auto",
                   help="dense: one N x N matrix; sparse: candidate pairs from the search index, clustered per "
                   "component (any size); default auto: dense up to 3000 tracks")
    add_db_argument(p)


def run(args: argparse.Namespace) -> int:
    from app.identity.linking import link_store

    cfg, db = open_db(args, create=False)
    try:
        summary = link_store(db, cfg, cameras=camera_list(args.cameras), threshold=args.threshold,
                             aggregation=args.aggregation, who="cli", method=args.method)
    finally:
        db.close()
    sys.stdout.write(summary.message + "\n")
    return 0
