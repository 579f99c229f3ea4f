"""Features of the cached views through the trainable tail, and the known-same vs known-different separation.

``TrackFeatures`` holds one normalised PGFA raw feature per clean crop; ``separation`` measures how far apart
pairs known to be different (certain negatives) sit compared with pairs known to be the same (the early vs
late half of one track), on the eq. 8 distance between visibility-aware means: the figure the model card
reports before and after adaptation, and that tests assert improves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from reid_core.adapt.losses import eq8_distance, normalise
from reid_core.adapt.views import ViewBank
from reid_core.model import PGFA


@dataclass(frozen=True)
class TrackFeatures:
    """Normalised features of N crops: global (N, Dg), parts (N, P, Dp), visibility (N, P), track row (N,)."""

    global_feat: np.ndarray
    parts: np.ndarray
    visibility: np.ndarray
    track: np.ndarray


@dataclass(frozen=True)
class Separation:
    """Known-same vs known-different distances: medians, and AUC = P(a same pair is closer than a different one)."""

    same_median: float
    different_median: float
    auc: float
    n_same: int
    n_different: int

    @property
    def gap(self) -> float:
        """different_median - same_median."""
        return self.different_median - self.same_median

    def as_dict(self) -> dict[str, float]:
        """Rounded figures for the model card."""
        return {"same_median": round(self.same_median, 4), "different_median": round(self.different_median, 4),
                "gap": round(self.gap, 4), "auc": round(self.auc, 4), "n_same": self.n_same,
                "n_different": self.n_different}


def head_features(model: PGFA | None, global_raw: torch.Tensor, parts_raw: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw PGFA features -> normalised head features (``feature_mode="head"``), or the raw ones for None."""
    g, p = global_raw.float(), parts_raw.float()
    if model is None:
        return normalise(g, p)
    parts = torch.stack([head(p[:, i]) for i, head in enumerate(model.part_heads)], dim=1)
    return normalise(model.pose_head(g), parts)


def camera_centred(tf: TrackFeatures, camera: np.ndarray) -> TrackFeatures:
    """Each camera's mean feature taken out, rows renormalised; unchanged with fewer than two cameras.

    camera (T,) is the camera of each track row. A camera's colour cast, optics and viewpoint move all of its
    features alike, so features of one person seen by two cameras sit further apart than two crops of one camera;
    taking out each camera's mean (global vector, and each stripe over the crops where it is visible) removes that
    shared shift before clustering, so pseudo-identities can span cameras (camera-aware clustering).
    """
    cam = np.asarray(camera)[tf.track]
    if len(np.unique(cam)) < 2:
        return tf
    g = tf.global_feat.astype(np.float32).copy()
    p = tf.parts.astype(np.float32).copy()
    for c in np.unique(cam):
        rows = cam == c
        g[rows] -= g[rows].mean(0)
        vis = tf.visibility[rows].astype(np.float32)
        mean_p = (p[rows] * vis[:, :, None]).sum(0) / np.maximum(vis.sum(0), 1.0)[:, None]
        p[rows] -= mean_p[None]
    unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)  # noqa: E731
    return TrackFeatures(unit(g), unit(p), tf.visibility, tf.track)


@torch.no_grad()
def clean_features(model: PGFA | None, bank: ViewBank, *, device: torch.device | str = "cpu",
                   batch: int = 512) -> TrackFeatures:
    """Features of every crop's clean view (view 0), in crop order: head features (eval mode), or raw for None."""
    idx = np.flatnonzero(bank.view == 0)
    if model is not None:
        model.eval()
    gs, ps = [], []
    for lo in range(0, len(idx), batch):
        sel = torch.as_tensor(idx[lo:lo + batch])
        g, p = head_features(model, bank.global_raw[sel].to(device), bank.parts_raw[sel].to(device))
        gs.append(g.cpu())
        ps.append(p.cpu())
    return TrackFeatures(torch.cat(gs).numpy(), torch.cat(ps).numpy(), bank.visibility[idx].numpy(),
                         bank.track[idx])


def visible_mean(g: np.ndarray, p: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One descriptor from samples: per stripe the mean where visible (all samples if never), unit vectors."""
    w = v.astype(np.float32)
    seen = w.sum(0) > 0
    w[:, ~seen] = 1.0
    parts = (p * w[:, :, None]).sum(0) / w.sum(0)[:, None]
    unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)  # noqa: E731
    return unit(g.mean(0)), unit(parts), seen


def _eq8(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> np.ndarray:
    ta = [torch.from_numpy(np.asarray(x)) for x in a]
    tb = [torch.from_numpy(np.asarray(x)) for x in b]
    return eq8_distance(ta[0], ta[1], ta[2], tb[0], tb[1], tb[2]).numpy()


def separation(tf: TrackFeatures, cannot: np.ndarray, *, min_crops: int = 4) -> Separation:
    """Known-same: early vs late half of each track's crops; known-different: ``cannot`` (T, T) track pairs."""
    n_tracks = len(cannot)
    whole: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = []
    halves = []
    for t in range(n_tracks):
        rows = np.flatnonzero(tf.track == t)
        if len(rows) == 0:
            whole.append(None)
            continue
        whole.append(visible_mean(tf.global_feat[rows], tf.parts[rows], tf.visibility[rows]))
        if len(rows) >= min_crops:
            h = len(rows) // 2
            halves.append((visible_mean(tf.global_feat[rows[:h]], tf.parts[rows[:h]], tf.visibility[rows[:h]]),
                           visible_mean(tf.global_feat[rows[h:]], tf.parts[rows[h:]], tf.visibility[rows[h:]])))
    same = np.array([_eq8(tuple(x[None] for x in a), tuple(x[None] for x in b))[0, 0] for a, b in halves])
    ia, ib = np.nonzero(np.triu(np.asarray(cannot, bool), 1))
    pairs = [(a, b) for a, b in zip(ia, ib, strict=True) if whole[a] is not None and whole[b] is not None]
    different = np.array([_eq8(tuple(x[None] for x in whole[a] or ()), tuple(x[None] for x in whole[b] or ()))[0, 0]
                          for a, b in pairs])
    if len(same) == 0 or len(different) == 0:
        return Separation(float("nan"), float("nan"), float("nan"), len(same), len(different))
    auc = float((same[:, None] < different[None, :]).mean() + 0.5 * (same[:, None] == different[None, :]).mean())
    return Separation(float(np.median(same)), float(np.median(different)), auc, len(same), len(different))
