"""Adapt the re-ID encoder to this site from the store's own tracks (no labels), then re-embed and relink."""

from __future__ import annotations

import argparse
import logging
import sys

from tqdm import tqdm

from app.commands.common import add_db_argument, add_device_argument, open_db
from app.commands.link import camera_list
from app.errors import UserError

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``reidwatch adapt``."""
    p.add_argument("--cameras", metavar="A,B", help="learn from these cameras' tracks only (default: all)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, help="train for about this long (whole epochs)")
    budget.add_argument("--epochs", type=int, help="train for this many epochs (default 60)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same store: same result)")
    p.add_argument("--resume", action="store_true", help="go on with an interrupted run")
    p.add_argument("--no-apply", action="store_true", help="only write the checkpoint and model card; do not make "
                   "it the store's encoder, re-embed or relink")
    p.add_argument("--crops-per-track", type=int, default=16, help="crops re-read per track (default 16)")
    p.add_argument("--views", type=int, default=3, help="views per crop: the crop and 'other camera' versions of it "
                   "(default 3)")
    p.add_argument("--who", help="operator name recorded in the audit trail (default: the OS user)")
    add_db_argument(p)
    add_device_argument(p)


class _Bar:
    """One tqdm bar per stage, with the loss as postfix."""

    def __init__(self) -> None:
        self.stage: str | None = None
        self.bar: tqdm | None = None

    def __call__(self, stage: str, done: int, total: int, note: str) -> None:
        if stage != self.stage:
            self.close()
            self.stage, self.bar = stage, tqdm(total=total, desc=stage, dynamic_ncols=True, file=sys.stderr)
        assert self.bar is not None
        self.bar.total = total
        self.bar.n = done
        if note:
            self.bar.set_postfix_str(note, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run(args: argparse.Namespace) -> int:
    """Run ``reidwatch adapt``."""
    from app.runtime import Runtime
    from app.training.adapt import AdaptOptions

    if args.epochs is not None and args.epochs < 1:
        raise UserError("--epochs must be at least 1")
    if args.minutes is not None and args.minutes <= 0:
        raise UserError("--minutes must be positive")
    cfg, db = open_db(args, create=False)
    opts = AdaptOptions(cameras=camera_list(args.cameras), minutes=args.minutes, epochs=args.epochs, seed=args.seed,
                        resume=args.resume, apply=not args.no_apply, per_track=args.crops_per_track,
                        views=args.views)
    bar = _Bar()
    try:
        outcome = Runtime(cfg).adapt(db, opts, progress=bar, on_state=lambda t: log.info("%s", t), who=args.who)
    except KeyboardInterrupt:
        raise UserError("interrupted: the last finished epoch is kept; `reidwatch adapt --resume` goes on") from None
    finally:
        bar.close()
        db.close()
    print(outcome.message)
    return 0
