"""``reidwatch adapt``: learn the site's people from the store's own tracks, then re-embed and relink.

1. crops: up to ``per_track`` detections of every track, re-read from the source videos, or the crops stored at
   ingest for tracks without one (live cameras) (``app.training.crops``);
2. constraints and pseudo-identities (``app.training.pseudo``);
3. views: clean + 'other camera' augmentations through the frozen trunk, cached (``reid_core.adapt.views``);
4. training of PGFA's heads (``reid_core.adapt.trainer``), resumable after every epoch;
5. a safetensors checkpoint + JSON model card next to the store (``<db>.models/``); by default it becomes the
   store's active encoder, every stored track is re-embedded with it and the store is relinked.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from app.config import Config
from app.errors import UserError
from app.identity.tables import load_track_table
from app.store import Database, repo
from app.training.crops import load_training_crops
from app.training.pseudo import hold_out, make_labeller, track_constraints
from reid_core.adapt.features import clean_features, separation
from reid_core.adapt.trainer import AdaptConfig, AdaptState, EpochReport, adapt
from reid_core.adapt.views import CropSet, ViewBank, build_view_bank
from reid_core.weights import resolve_model, save_checkpoint

log = logging.getLogger(__name__)
STATE_NAME = "adapt-state.pt"
VIEWS_NAME = "adapt-views.pt"
Progress = Callable[[str, int, int, str], None]  # stage, done, total, note (e.g. the loss)


@dataclass(frozen=True)
class AdaptOptions:
    """What ``reidwatch adapt`` was asked to do."""

    cameras: list[str] | None = None
    minutes: float | None = None
    epochs: int | None = None
    seed: int = 0
    resume: bool = False
    apply: bool = True
    per_track: int = 16
    views: int = 3
    min_tracks: int = 4


@dataclass(frozen=True)
class AdaptOutcome:
    """The checkpoint and model card written, and whether they were applied to the store."""

    checkpoint: Path
    card_path: Path
    card: dict
    applied: bool
    message: str


def models_dir(db: Database) -> Path:
    """Where a store's adapted checkpoints live: ``<db dir>/<db name>.models/`` (a server store: in its files
    folder; the active checkpoint is also kept in the database for the other nodes, ``app.training.active``)."""
    return db.side_path(".models")


def _load_crops(db: Database, cfg: Config, opts: AdaptOptions, progress: Progress | None):  # type: ignore[no-untyped-def]
    with db.session() as s:
        table = load_track_table(s, camera_ids=repo.camera_ids(s, opts.cameras))
    cb = (lambda d, t: progress("reading crops", d, t, "")) if progress is not None else None
    got = load_training_crops(db, [int(t) for t in table.ids], opts.per_track, cb)
    return table, got.crops, got.keypoints, got.track_ids, got.summary()


def run_adapt(db: Database, cfg: Config, opts: AdaptOptions, *, device: str = "cpu",
              progress: Progress | None = None) -> AdaptOutcome:
    """Adapt the encoder to the store (see the module docstring); KeyboardInterrupt keeps the last epoch."""
    started = time.perf_counter()
    torch.manual_seed(opts.seed)
    table, crops, kps, owner, origin = _load_crops(db, cfg, opts, progress)
    rows_of = {int(t): i for i, t in enumerate(table.ids)}
    used = sorted({rows_of[int(t)] for t in owner})
    if len(used) < opts.min_tracks:
        raise UserError(f"too few tracks to adapt to: {len(used)} with crops from a video or stored at ingest "
                        f"(need at least {opts.min_tracks}); ingest more footage first")
    from app.identity.tables import take_tracks

    sub = take_tracks(table, np.array(used, np.int64))
    with db.session() as s:
        cons = track_constraints(s, sub, cfg)
    if not cons.certain.any():
        raise UserError("cannot adapt: no two tracks were ever seen at the same time in one camera, so nothing "
                        "tells people apart; ingest busier footage or reject some matches first")
    trained, held = hold_out(cons.certain, seed=opts.seed)
    row = {t: i for i, t in enumerate(int(x) for x in sub.ids)}
    track_row = np.array([row[int(t)] for t in owner], np.int64)
    model, info = resolve_model(cfg.encoder.weights, backbone=cfg.encoder.backbone)
    out_dir = models_dir(db)
    from app.privacy.files import restrict_tree

    restrict_tree(out_dir)  # trained on this site's people: owner only, like the store (app.privacy)
    acfg = _train_config(opts)
    bank = _view_bank(out_dir / VIEWS_NAME, model, info.note, CropSet(crops, np.stack(kps), track_row), sub.ids,
                      opts, device, progress)
    check = held if held.any() else cons.certain  # separation on pairs never trained apart, when there are some
    before = separation(clean_features(None, bank), check)
    state_path = out_dir / STATE_NAME
    state = _load_state(state_path, sub.ids, opts) if opts.resume else None
    budget = None if opts.minutes is None else max(1.0, opts.minutes * 60 - (time.perf_counter() - started))
    acfg = replace(acfg, time_budget_s=budget)
    last: list[AdaptState] = [state] if state is not None else []

    def on_epoch(st: AdaptState) -> None:
        last[:] = [st]
        torch.save({"heads": st.heads, "average": st.average, "averaged": st.averaged,
                    "optimizer": st.optimizer, "epoch": st.epoch, "labels": st.labels,
                    "history": [asdict(h) for h in st.history], "tracks": sub.ids.tolist(), "seed": opts.seed,
                    "per_track": opts.per_track, "views": opts.views}, state_path)

    step_cb = _StepReport(progress, acfg) if progress is not None else None
    interrupted = False
    try:
        final = adapt(model, bank, trained, cons.groups, acfg, labeller=make_labeller(cons, held, camera=sub.camera),
                      state=state, on_epoch=on_epoch, on_step=step_cb, device=device)
        if step_cb is not None:
            step_cb.finish(final.epoch)
    except KeyboardInterrupt:
        if not last:
            raise
        interrupted, final = True, last[0]
        kept = final.final_heads()
        model.part_heads.load_state_dict({k[len("part_heads."):]: v for k, v in kept.items()
                                          if k.startswith("part_heads.")})
        model.pose_head.load_state_dict({k[len("pose_head."):]: v for k, v in kept.items()
                                         if k.startswith("pose_head.")})
    model.feature_mode = "head"
    after = separation(clean_features(model, bank), check)
    card = _card(db, info.note, sub, bank, final.history, before.as_dict(), after.as_dict(), opts,
                 time.perf_counter() - started, interrupted)
    ia, ib = np.nonzero(np.triu(trained, 1))
    card["held_out_pairs"] = int(np.triu(held, 1).sum())
    card["averaged_epochs"] = final.averaged  # the heads are the mean over these last epochs (trainer.average_heads)
    card["crops_from"] = origin  # tracks whose crops came from their video / from the crops stored at ingest
    card["trained_pairs"] = [[int(sub.ids[a]), int(sub.ids[b])] for a, b in zip(ia, ib, strict=True)]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    ckpt = save_checkpoint(model, out_dir / f"adapted-{stamp}.safetensors", extra={"adapt": card})
    card_path = ckpt.with_suffix(".json")
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    msg = (f"adapted on {len(sub)} tracks, {len(crops)} crops, {final.epoch} epochs: known-same vs known-different "
           f"distance gap {before.gap:.3f} -> {after.gap:.3f}, AUC {before.auc:.3f} -> {after.auc:.3f}; "
           f"checkpoint {ckpt}")
    if interrupted:
        log.warning("interrupted: kept epoch %d in %s; `reidwatch adapt --resume` goes on", final.epoch, ckpt)
        raise KeyboardInterrupt
    return AdaptOutcome(ckpt, card_path, card, False, msg)


def _view_bank(path: Path, model, base: str, crops: CropSet, track_ids: np.ndarray, opts: AdaptOptions,  # type: ignore[no-untyped-def]
               device: str, progress: Progress | None) -> ViewBank:
    """The cached views of the last run when nothing changed (same tracks, crops, seed, views, encoder), else new
    ones, saved for the next run (a resumed or repeated run skips the slowest step)."""
    key = {"tracks": track_ids.tolist(), "crops": len(crops.crops), "seed": opts.seed, "views": opts.views,
           "per_track": opts.per_track, "base": base}
    if path.is_file():
        raw = torch.load(path, map_location="cpu", weights_only=False)
        if raw.get("key") == key:
            log.info("reusing the cached views of %d crops (%s)", len(crops.crops), path)
            return raw["bank"]  # type: ignore[no-any-return]
    bank = build_view_bank(model, crops, views=opts.views, seed=opts.seed, device=device,
                           on_progress=lambda d, t: progress("views", d, t, "") if progress else None)
    torch.save({"key": key, "bank": bank}, path)
    return bank


class _StepReport:
    """Training progress for the bar: steps over all epochs, or, with a time budget (``--minutes``), seconds of
    it, so the bar's ETA holds across epochs. The trainer checks the budget only between epochs, so the seconds
    stop one short of it until ``finish`` fills the bar."""

    def __init__(self, progress: Progress, acfg: AdaptConfig) -> None:
        self.progress, self.acfg = progress, acfg
        self.t0 = time.perf_counter()
        self.total = 0

    def __call__(self, done: int, total: int, epoch: int, loss: float) -> None:
        budget = self.acfg.time_budget_s
        if budget is None:
            self.total = total
            self.progress("training", done, total, f"epoch {epoch}/{self.acfg.epochs}, loss {loss:.3f}")
        else:
            self.total = max(1, int(budget))
            spent = min(self.total - 1, int(time.perf_counter() - self.t0))
            self.progress("training", spent, self.total, f"seconds of the budget; epoch {epoch}, loss {loss:.3f}")

    def finish(self, epochs: int) -> None:
        """The bar at its end once training stopped (the budget spent, or the epochs done before it)."""
        if self.total:
            self.progress("training", self.total, self.total, f"{epochs} epochs done")


def _train_config(opts: AdaptOptions) -> AdaptConfig:
    epochs = opts.epochs if opts.epochs is not None else (1000 if opts.minutes is not None else AdaptConfig.epochs)
    return AdaptConfig(epochs=epochs, seed=opts.seed)


def _load_state(path: Path, track_ids: np.ndarray, opts: AdaptOptions) -> AdaptState | None:
    if not path.is_file():
        raise UserError(f"--resume: no interrupted run to resume ({path} is missing)")
    raw = torch.load(path, map_location="cpu", weights_only=False)
    if raw.get("tracks") != track_ids.tolist() or raw.get("seed") != opts.seed or raw.get("views") != opts.views \
            or raw.get("per_track") != opts.per_track:
        raise UserError("--resume: the store or the options changed since the interrupted run; start afresh")
    return AdaptState(raw["heads"], raw["optimizer"], int(raw["epoch"]), np.asarray(raw["labels"]),
                      [EpochReport(**h) for h in raw["history"]], raw.get("average"), int(raw.get("averaged", 0)))


def _card(db: Database, base: str, sub, bank, history, before: dict, after: dict, opts: AdaptOptions,  # type: ignore[no-untyped-def]
          seconds: float, interrupted: bool) -> dict:
    return {
        "kind": "reidwatch site-adapted PGFA", "store": db.label, "base": base,
        "trained": "PGFA bottleneck heads (feature_mode head, 256-d); trunk frozen",
        "tracks": len(sub), "cameras": sorted({int(c) for c in sub.camera}), "crops": int((bank.view == 0).sum()),
        "views_per_crop": opts.views, "epochs": len(history), "seed": opts.seed, "interrupted": interrupted,
        "losses": [{"epoch": h.epoch, "loss": round(h.loss, 4), "memory": round(h.memory_loss, 4),
                    "cannot_link": round(h.margin_loss, 4), "pseudo_identities": h.clusters} for h in history],
        "separation_before": before, "separation_after": after, "seconds": round(seconds, 1),
        "at": repo.utcnow().isoformat(timespec="seconds"),
    }
