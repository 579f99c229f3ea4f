"""Re-embed every stored track with a PGFA checkpoint (trained or adapted elsewhere) and relink."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.commands.common import add_db_argument, add_device_argument, open_db
from app.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``reidwatch reembed``."""
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--weights", metavar="CKPT", help="a PGFA checkpoint (.safetensors); it becomes the store's "
                       "active encoder")
    which.add_argument("--active", action="store_true", help="re-embed with the store's active encoder")
    p.add_argument("--no-link", action="store_true", help="do not relink afterwards")
    add_db_argument(p)
    add_device_argument(p)


def run(args: argparse.Namespace) -> int:
    """Run ``reidwatch reembed``."""
    from app.runtime.adapt import apply_checkpoint
    from app.training.active import active_encoder
    from reid_core.weights import WeightsError, load_checkpoint

    cfg, db = open_db(args, create=False)
    try:
        if args.active:
            active = active_encoder(db)
            if not active:
                raise UserError("the store has no active encoder yet: use --weights CKPT (or `reidwatch adapt`)")
            from app.training.active import active_checkpoint

            path = active_checkpoint(db, active) or Path(active["path"])
        else:
            path = Path(args.weights)
        try:
            load_checkpoint(path)
        except WeightsError as exc:
            raise UserError(str(exc)) from None
        result, summary = apply_checkpoint(db, cfg, path, relink=not args.no_link)
    finally:
        db.close()
    print(f"re-embedded {result.samples} samples of {result.tracks} tracks with {result.tag}; {summary}")
    return 0
