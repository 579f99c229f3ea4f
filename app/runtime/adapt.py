"""Adapt, apply, re-embed, relink: the sequence that ``reidwatch adapt``, ``reidwatch reembed`` and the UI share
(through ``app.runtime.Runtime.adapt``). It lives with the runtime because it builds the encoder the runtime builds;
the training itself is ``app.training``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from app.config import Config
from app.runtime.components import build_encoder, resolve_device
from app.store import Database
from app.training.active import set_active_encoder
from app.training.adapt import AdaptOptions, AdaptOutcome, Progress, run_adapt
from app.training.reembed import ReembedResult, reembed_store

log = logging.getLogger(__name__)


def _device(cfg: Config) -> str:
    return resolve_device(cfg.device)


def apply_checkpoint(db: Database, cfg: Config, checkpoint: Path, *, card: Path | None = None,
                     progress: Progress | None = None, relink: bool = True,
                     trained_pairs: list[list[int]] | None = None) -> tuple[ReembedResult, str]:
    """Make ``checkpoint`` the store's active encoder, re-embed every stored sample with it, relink.

    Returns the re-embedding result and the linking summary line.
    """
    from app.identity.linking import link_store

    encoder = build_encoder(replace(cfg, encoder=replace(cfg.encoder, weights=str(checkpoint))), _device(cfg))
    cb: Callable[[int, int], None] | None = None
    if progress is not None:
        cb = lambda d, t: progress("re-embedding", d, t, "")  # noqa: E731
    result = reembed_store(db, encoder, progress=cb)
    set_active_encoder(db, checkpoint, tag=result.tag, card=card, trained_pairs=trained_pairs)
    summary = link_store(db, cfg, who="adapt").message if relink else "not relinked"
    return result, summary


def adapt_store(db: Database, cfg: Config, options: AdaptOptions, *, progress: Progress | None = None,
                on_state: Callable[[str], None] | None = None) -> AdaptOutcome:
    """Train on the store's tracks; then, when ``options.apply``, apply the checkpoint (see ``apply_checkpoint``)."""
    if on_state is not None:
        on_state("adapting the encoder to this site")
    outcome = run_adapt(db, cfg, options, device=_device(cfg), progress=progress)
    if not options.apply:
        return outcome
    if on_state is not None:
        on_state("re-embedding the store with the adapted encoder")
    result, summary = apply_checkpoint(db, cfg, outcome.checkpoint, card=outcome.card_path, progress=progress,
                                       trained_pairs=outcome.card.get("trained_pairs"))
    msg = f"{outcome.message}; re-embedded {result.samples} samples of {result.tracks} tracks; {summary}"
    return replace(outcome, applied=True, message=msg)
