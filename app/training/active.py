"""The store's active encoder: which PGFA checkpoint the store's embeddings were made with.

``reidwatch adapt`` (and ``reidwatch reembed``) record it in the setting ``encoder.active``; every job that
embeds new crops (ingest, live monitoring, search by image, the UI through ``app.runtime.Runtime``) then uses it,
so new embeddings stay comparable with the stored ones. An encoder named in the configuration or on the command
line (``[encoder] weights``) still wins: the user asked for it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from app.config import Config
from app.errors import UserError
from app.store import Database, repo

log = logging.getLogger(__name__)
ACTIVE_KEY = "encoder.active"


def active_encoder(db: Database) -> dict | None:
    """The setting: {"path", "tag", "card", "at"}, or None when the store uses the default encoder."""
    with db.session() as s:
        return repo.get_setting(s, ACTIVE_KEY)


def set_active_encoder(db: Database, path: Path, *, tag: str, card: Path | None = None,
                       trained_pairs: list[list[int]] | None = None) -> None:
    """Make ``path`` the store's active encoder. ``trained_pairs``: track pairs it was trained to tell apart;
    linking's calibration leaves them out (they look artificially far to this encoder)."""
    with db.session() as s:
        blob = None
        if not db.is_file:  # a site's shared store: the other nodes read the checkpoint from the database
            from app.store import blobs

            old = repo.get_setting(s, ACTIVE_KEY)
            blobs.drop(s, (old or {}).get("blob"))
            blob = blobs.put_file(s, Path(path))
        repo.put_setting(s, ACTIVE_KEY, {"path": str(Path(path).resolve()), "tag": tag,
                                         "card": str(card) if card else None, "at": repo.utcnow().isoformat(),
                                         "trained_pairs": trained_pairs or [], "blob": blob})


def active_checkpoint(db: Database, active: dict | None = None) -> Path | None:
    """The active checkpoint's file on this machine: where ``adapt`` wrote it, else (a server store on another
    node) the copy fetched from the database into the store's files folder; None when there is none."""
    active = active if active is not None else active_encoder(db)
    if not active or not active.get("path"):
        return None
    path = Path(active["path"])
    if path.is_file() or not active.get("blob") or db.is_file:
        return path if path.is_file() else None
    from app.store import blobs

    with db.session() as s:
        return blobs.fetch_file(s, active["blob"], db.side_path(".models"))


def store_has_colour(db: Database) -> bool | None:
    """Whether the store's embeddings carry the colour stripes (``reid_core.colour``); None when it has none."""
    from sqlalchemy import select

    from app.store import models as m

    with db.session() as s:
        tag = s.scalar(select(m.Embedding.model_tag).limit(1))
    return None if tag is None else ";colour=" in str(tag)


def colour_on(setting: str, *, weights: str | None, store_has: bool | None) -> bool:
    """Whether an encoder gets the colour stripes. ``setting``: ``[encoder] colour``. "auto" follows a store that
    already has embeddings (``store_has``; None: none yet, or a job that embeds a whole store anew); otherwise it is
    on for the ImageNet encoder (no ``weights``) and off for a trained or site-adapted checkpoint, which learnt to
    discount a camera's colour cast (measured: the stripes help ImageNet features and cost an adapted encoder
    cross-camera links; docs/benchmarks.md, "Pose-aligned colour cue")."""
    if setting != "auto":
        return setting == "on"
    if store_has is not None:
        return store_has
    return weights is None


def with_store_colour(cfg: Config, db: Database) -> Config:
    """``cfg`` with ``[encoder] colour`` settled for this store and encoder (``colour_on``). A setting that
    contradicts the store's embeddings is a UserError: new embeddings would not compare with the stored ones."""
    has = store_has_colour(db)
    on = colour_on(cfg.encoder.colour, weights=cfg.encoder.weights, store_has=has)
    if has is not None and on != has:
        with_or = "with" if has else "without"
        raise UserError(f"[encoder] colour = \"{cfg.encoder.colour}\", but this store was embedded {with_or} the "
                        f"colour stripes: set colour = \"auto\", or re-embed the store (`reidwatch reembed`)")
    return replace(cfg, encoder=replace(cfg.encoder, colour="on" if on else "off"))


def settled_colour(cfg: Config) -> Config:
    """``cfg`` with "auto" settled by the encoder alone (no store): the value a store without embeddings gets."""
    on = colour_on(cfg.encoder.colour, weights=cfg.encoder.weights, store_has=None)
    return replace(cfg, encoder=replace(cfg.encoder, colour="on" if on else "off"))


def with_active_encoder(cfg: Config, db: Database) -> Config:
    """``cfg`` with the store's active checkpoint as encoder weights, unless weights were given explicitly, and
    the colour stripes settled for the store and that encoder (``with_store_colour``)."""
    if cfg.encoder.weights is not None:
        return with_store_colour(cfg, db)
    active = active_encoder(db)
    if not active or not active.get("path"):
        return with_store_colour(cfg, db)
    path = active_checkpoint(db, active)
    if path is None:
        log.warning("the store's active encoder %s is missing: using the default encoder (embeddings will not "
                    "compare with the stored ones until `reidwatch reembed`)", active["path"])
        return with_store_colour(cfg, db)
    return with_store_colour(replace(cfg, encoder=replace(cfg.encoder, weights=str(path))), db)


def describe_active(db: Database) -> str:
    """One line for ``reidwatch info``."""
    active = active_encoder(db)
    if not active:
        return "encoder: default (ImageNet backbone, not adapted to this site)"
    card = f", model card {active['card']}" if active.get("card") else ""
    return f"encoder: {active['path']} ({active.get('tag', '?')}{card})"


def adapt_hint(db: Database) -> str | None:
    """One line for the user when cameras share the store that the encoder never learnt (None: nothing to say).

    Raw ImageNet features rarely link one person across two cameras (on the two-camera vtest store: no
    cross-camera link before adaptation, most of them after), so after an ingest the user is told what to run."""
    with db.session() as s:
        cams = {c.id: c.name for c in repo.list_cameras(s)}
    if len(cams) < 2:
        return None
    active = active_encoder(db)
    if active is None:
        return (f"tip: {len(cams)} cameras share this store and the encoder has not learnt this site: "
                "`reidwatch adapt` (no labels needed) is what links people across cameras")
    try:
        learnt = set(json.loads(Path(active.get("card") or "").read_text()).get("cameras") or [])
    except (OSError, ValueError, AttributeError):
        return None  # a checkpoint trained elsewhere, or a card on another node: nothing known to say
    new = sorted(name for cid, name in cams.items() if cid not in learnt)
    if not new:
        return None
    many = len(new) > 1
    return (f"tip: camera{'s' if many else ''} {', '.join(new)} joined after the encoder was adapted; "
            f"run `reidwatch adapt` again to learn {'them' if many else 'it'}")
