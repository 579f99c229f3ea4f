"""The adaptation loop: train PGFA's bottleneck heads on cached raw features of augmented views, no labels.

Positives: the views of one crop, the crops of one track, and the tracks of one pseudo-identity (its initial
groups are the must-links: stitched fragments of one stay, operator confirmations). Certain negatives:
``cannot`` (tracks at the same time in one camera, operator rejections). Every ``refresh_every`` epochs the
caller's ``labeller`` re-clusters the tracks on the current features (the app passes linking's own constrained
clustering, which never joins a cannot-link pair), and the memory restarts from the new clusters' centroids.
With ``certain_only`` (default) a sample's memory negatives are only the pseudo-identities known to differ from
its own: a person split into two tracks that clustering has not joined yet (a re-entry, another camera) is
never pushed away from themself, the failure UTAL describes for tracklet-as-class training.

The trunk (and its BatchNorm statistics) stays frozen, as the implementers' reports advise for small batches;
the heads (part heads and pose head: Linear + BatchNorm1d, dropout on the stripes) learn with Adam.
``on_epoch`` receives a resumable ``AdaptState`` after every epoch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from reid_core.adapt.features import TrackFeatures, clean_features, head_features
from reid_core.adapt.losses import (
    cannot_link_margin,
    eq8_distance,
    memory_contrast,
    slot_cannot_link,
    update_memory,
)
from reid_core.adapt.views import ViewBank
from reid_core.model import PGFA

log = logging.getLogger(__name__)

Labeller = Callable[[TrackFeatures], np.ndarray]


@dataclass(frozen=True)
class AdaptConfig:
    """Hyper-parameters of one adaptation run."""

    epochs: int = 60
    batch_ids: int = 16
    per_id: int = 4
    lr: float = 1e-3
    weight_decay: float = 5e-4
    temperature: float = 0.05
    margin: float = 0.1
    margin_weight: float = 1.0
    refresh_every: int = 5
    momentum: float = 0.2
    seed: int = 0
    time_budget_s: float | None = None  # stop after the epoch during which this is reached
    certain_only: bool = True  # memory negatives: only pseudo-identities known to differ (see trainer docstring)
    # the heads returned are the average of those after every epoch past this share of the run (of the epochs,
    # or of the time budget); 1.0 returns the last epoch's heads (see ``average_heads``)
    average_from: float = 0.5

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_ids < 2 or self.per_id < 2:
            raise ValueError("need epochs >= 1, batch_ids >= 2 and per_id >= 2")
        if not 0.0 <= self.average_from <= 1.0:
            raise ValueError(f"average_from must be in [0, 1], got {self.average_from}")


@dataclass(frozen=True)
class EpochReport:
    """What one epoch did."""

    epoch: int
    loss: float
    memory_loss: float
    margin_loss: float
    clusters: int
    seconds: float


@dataclass
class AdaptState:
    """Everything to resume: head weights, optimiser, epochs done, pseudo-labels and the history."""

    heads: dict[str, torch.Tensor]
    optimizer: dict
    epoch: int
    labels: np.ndarray
    history: list[EpochReport] = field(default_factory=list)
    average: dict[str, torch.Tensor] | None = None  # running mean of the heads over the averaged epochs
    averaged: int = 0  # epochs in ``average``

    def final_heads(self) -> dict[str, torch.Tensor]:
        """The heads to use: the average over the run's later epochs when there is one, else the last epoch's."""
        return self.average if self.average is not None and self.averaged > 0 else self.heads


def average_heads(average: dict[str, torch.Tensor] | None, averaged: int, heads: dict[str, torch.Tensor]
                  ) -> dict[str, torch.Tensor]:
    """``average`` (the mean of ``averaged`` head states) with ``heads`` added: the running mean of the floating
    tensors (weights and BatchNorm statistics); integer buffers (BatchNorm's batch count) are the newest.

    Averaging the weights a run passes through late in training (stochastic weight averaging, Izmailov et al.
    2018) lands in a flatter, more central point of the basin than any one epoch: the pseudo-labels change
    every few epochs, and the last epoch's heads carry the last refresh's noise. Only the small heads are
    averaged; the trunk is frozen.
    """
    if average is None or averaged <= 0:
        return {k: v.detach().clone() for k, v in heads.items()}
    out = {}
    for k, v in heads.items():
        if torch.is_floating_point(v):
            out[k] = average[k] + (v.detach() - average[k]) / (averaged + 1)
        else:
            out[k] = v.detach().clone()
    return out


def _groups(labels: np.ndarray, track_of_view: np.ndarray) -> dict[int, np.ndarray]:
    lab = labels[track_of_view]
    return {int(k): np.flatnonzero(lab == k) for k in np.unique(lab)}


def _batches(rng: np.random.Generator, labels: np.ndarray, bank: ViewBank, cannot: np.ndarray, cfg: AdaptConfig,
             steps: int) -> list[np.ndarray]:
    """View indices of each batch: half the pseudo-identities drawn at random, half their certain negatives."""
    groups = _groups(labels, bank.track)
    keys = np.array(sorted(groups))
    lab_cannot: dict[int, set[int]] = {}
    for a, b in zip(*np.nonzero(cannot), strict=True):
        lab_cannot.setdefault(int(labels[a]), set()).add(int(labels[b]))
    out = []
    for _ in range(steps):
        chosen: list[int] = []
        for k in rng.permutation(keys):
            if len(chosen) >= cfg.batch_ids:
                break
            if int(k) in chosen:
                continue
            chosen.append(int(k))
            partners = [p for p in lab_cannot.get(int(k), ()) if p not in chosen]
            if partners and len(chosen) < cfg.batch_ids:
                chosen.append(int(rng.choice(partners)))
        idx = [rng.choice(groups[k], cfg.per_id, replace=len(groups[k]) < cfg.per_id) for k in chosen]
        out.append(np.concatenate(idx))
    return out


def _centroids(tf: TrackFeatures, labels: np.ndarray, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.from_numpy(tf.global_feat)
    p = torch.from_numpy(tf.parts)
    lab = torch.from_numpy(labels[tf.track])
    mem_g = torch.zeros(k, g.shape[1]).index_add_(0, lab, g)
    mem_p = torch.zeros(k, *p.shape[1:]).index_add_(0, lab, p)
    return nn.functional.normalize(mem_g, dim=1), nn.functional.normalize(mem_p, dim=2)


def compact(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0..K-1 in order of first appearance."""
    _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inv].astype(np.int64)


def adapt(model: PGFA, bank: ViewBank, cannot: np.ndarray, groups: np.ndarray, cfg: AdaptConfig, *,
          labeller: Labeller | None = None, state: AdaptState | None = None,
          on_epoch: Callable[[AdaptState], None] | None = None,
          on_step: Callable[[int, int, int, float], None] | None = None,
          device: torch.device | str = "cpu") -> AdaptState:
    """Train the model's heads in place; returns the final state (``state`` resumes a run).

    cannot (T, T) bool certain negatives between track rows; groups (T,) initial pseudo-identities.
    ``on_step(done, total, epoch, loss)`` reports progress over the whole run: steps done and planned from the
    first epoch of this call (so a progress bar's rate and ETA hold across epochs), the 1-based epoch and the
    step's loss. A time budget may end the run before ``total``.
    """
    dev = torch.device(device)
    heads = nn.ModuleDict({"part_heads": model.part_heads, "pose_head": model.pose_head})
    model.eval().to(dev)
    for param in model.parameters():
        param.requires_grad_(False)
    params = list(heads.parameters())
    for q in params:
        q.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    cannot_t = torch.from_numpy(np.asarray(cannot, bool))
    labels = compact(np.asarray(groups, np.int64))
    start_epoch, history = 0, []
    average: dict[str, torch.Tensor] | None = None
    averaged = 0
    if state is not None:
        heads.load_state_dict(state.heads)
        opt.load_state_dict(state.optimizer)
        labels, start_epoch, history = state.labels.copy(), state.epoch, list(state.history)
        average, averaged = state.average, state.averaged
    steps = max(1, int(np.ceil(len(bank) / (cfg.batch_ids * cfg.per_id))))
    started = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        rng = np.random.default_rng([cfg.seed, epoch])
        torch.manual_seed(cfg.seed * 1000 + epoch)
        tf = clean_features(model, bank, device=dev)
        heads.train()
        if labeller is not None and epoch > 0 and epoch % cfg.refresh_every == 0:
            labels = compact(labeller(tf))
        mem_g, mem_p = _centroids(tf, labels, int(labels.max()) + 1)
        mem_g, mem_p = mem_g.to(dev), mem_p.to(dev)
        k = int(labels.max()) + 1
        slot_cannot = slot_cannot_link(torch.from_numpy(labels), cannot_t, k).to(dev) if cfg.certain_only else None
        totals = np.zeros(3)
        for step, sel in enumerate(_batches(rng, labels, bank, cannot, cfg, steps)):
            idx = torch.as_tensor(sel)
            lab = torch.as_tensor(labels[bank.track[sel]], device=dev)
            vis = bank.visibility[idx].to(dev)
            g, p = head_features(model, bank.global_raw[idx].to(dev), bank.parts_raw[idx].to(dev))
            allowed = slot_cannot[lab] if slot_cannot is not None else None
            mem_loss = memory_contrast(g, p, vis, lab, mem_g, mem_p, temperature=cfg.temperature, allowed=allowed)
            tr = torch.as_tensor(bank.track[sel])
            certain = cannot_t[tr[:, None], tr[None, :]].to(dev)
            margin_loss = cannot_link_margin(eq8_distance(g, p, vis, g, p, vis), lab, certain, margin=cfg.margin)
            loss = mem_loss + cfg.margin_weight * margin_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            update_memory(mem_g, mem_p, g.detach(), p.detach(), lab, cfg.momentum)
            totals += (loss.item(), mem_loss.item(), margin_loss.item())
            if on_step is not None:
                on_step((epoch - start_epoch) * steps + step + 1, (cfg.epochs - start_epoch) * steps, epoch + 1,
                        loss.item())
        heads.eval()
        avg = totals / steps
        report = EpochReport(epoch + 1, float(avg[0]), float(avg[1]), float(avg[2]), int(labels.max()) + 1,
                             time.perf_counter() - t0)
        history.append(report)
        log.info("adapt epoch %d/%d: loss %.4f (memory %.4f, cannot-link %.4f), %d pseudo-identities, %.1f s",
                 report.epoch, cfg.epochs, report.loss, report.memory_loss, report.margin_loss, report.clusters,
                 report.seconds)
        now = {k: v.detach().cpu().clone() for k, v in heads.state_dict().items()}
        if averaging_epoch(cfg, epoch + 1, time.perf_counter() - started):
            average, averaged = average_heads(average, averaged, now), averaged + 1
        state = AdaptState(now, opt.state_dict(), epoch + 1, labels.copy(), list(history), average, averaged)
        if on_epoch is not None:
            on_epoch(state)
        if cfg.time_budget_s is not None and time.perf_counter() - started >= cfg.time_budget_s:
            log.info("adapt: time budget of %.0f s reached after epoch %d", cfg.time_budget_s, epoch + 1)
            break
    for param in model.parameters():
        param.requires_grad_(False)
    if state is None:  # nothing left to do (resumed at the end)
        state = AdaptState({k: v.detach().cpu().clone() for k, v in heads.state_dict().items()}, opt.state_dict(),
                           start_epoch, labels.copy(), history, average, averaged)
    heads.load_state_dict(state.final_heads())
    return state


def averaging_epoch(cfg: AdaptConfig, epochs_done: int, elapsed_s: float) -> bool:
    """Whether the epoch just done is one the returned heads average over (``AdaptConfig.average_from``): past
    that share of the epochs, or, with a time budget, of the budget. A resumed run counts its budget afresh, so
    its average may leave out some epochs of the first run's second half; it never takes in early epochs."""
    if cfg.average_from >= 1.0:
        return False
    if cfg.time_budget_s is not None:
        return elapsed_s >= cfg.average_from * cfg.time_budget_s or epochs_done > cfg.average_from * cfg.epochs
    return epochs_done > cfg.average_from * cfg.epochs
