"""What adaptation knows without labels: certain negatives, must-links, and pseudo-identities from linking's own
constrained clustering.

- certain negatives: tracks that overlap in time in one camera, and operator rejections (and splits);
- must-links (initial pseudo-identities): fragments stitched into one stay, operator confirmations and merges;
- pseudo-identities during training (``make_labeller``): the tracks are clustered on the current features with
  linking's calibrated, constrained average linkage (``app.identity.cluster``: the threshold at which clustering
  joins at most 2% of the held-out known-different pairs hidden from it, capped at their 5% quantile). Every
  hard constraint of linking applies (time overlap, impossible speed, re-entry gap, camera transitions, operator
  decisions): a cannot-link pair is never one pseudo-identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from app.config import Config
from app.identity import cluster as lk
from app.identity import constraints as lc
from app.identity.linking import MAX_FALSE_RATE, hard_constraints, operator_pairs, transition_windows
from app.identity.tables import TrackTable
from reid_core import track_descriptors as lm
from reid_core.adapt.features import TrackFeatures, camera_centred


@dataclass(frozen=True)
class TrackConstraints:
    """Row-indexed constraints of T tracks: certain (T, T), all hard cannot-links (T, T), must pairs, groups (T,)."""

    certain: np.ndarray
    cannot: np.ndarray
    must: list[tuple[int, int]]
    groups: np.ndarray


def track_constraints(s: Session, table: TrackTable, cfg: Config) -> TrackConstraints:
    """The constraints of the tracks in ``table`` (rows in table order)."""
    must, op_cannot = operator_pairs(s, table)
    certain = lc.overlap_cannot_link(table.camera, table.t_start, table.t_end)
    groups = lk.must_link_components(len(table), must)
    certain &= groups[:, None] != groups[None, :]  # an operator said these are one person after all
    cannot = hard_constraints(table, cfg, transition_windows(s)) | certain
    for a, b in op_cannot:
        certain[a, b] = certain[b, a] = cannot[a, b] = cannot[b, a] = True
    np.fill_diagonal(certain, False)
    np.fill_diagonal(cannot, False)
    return TrackConstraints(certain, cannot, must, groups)


def hold_out(certain: np.ndarray, *, fraction: float = 0.3, seed: int = 0, minimum: int = 10
             ) -> tuple[np.ndarray, np.ndarray]:
    """Split the certain negatives into (trained (T, T), held out (T, T)).

    Pairs the encoder trained apart look artificially far afterwards, so calibrating on them would inflate
    every threshold (pseudo-identities during training, linking afterwards): a share is never trained on and
    keeps the calibration honest. With fewer than ``minimum`` pairs in all, every pair is trained and none held.
    """
    ia, ib = np.nonzero(np.triu(certain, 1))
    held = np.zeros_like(certain, dtype=bool)
    if len(ia) < minimum:
        return certain.copy(), held
    pick = np.random.default_rng(seed).permutation(len(ia))[: max(1, int(round(fraction * len(ia))))]
    held[ia[pick], ib[pick]] = held[ib[pick], ia[pick]] = True
    return certain & ~held, held


def make_labeller(cons: TrackConstraints, held: np.ndarray | None = None, *,  # type: ignore[no-untyped-def]
                  linkage: str = "average", camera: np.ndarray | None = None):
    """A labeller for ``reid_core.adapt.trainer.adapt``: features -> (T,) pseudo-identities, calibrated on the
    held-out known-different pairs (all certain pairs when none is held out).

    With ``camera`` (T,) naming two or more cameras, the tracks are clustered on camera-centred features
    (``camera_centred``): each camera's own shift is taken out first, so one person seen by two cameras can
    become one pseudo-identity, and the cross-camera loss has something to pull together.
    """
    ref = cons.certain if held is None or not held.any() else held
    ia, ib = np.nonzero(np.triu(ref, 1))
    known_different = list(zip(ia.tolist(), ib.tolist(), strict=True))

    def label(tf: TrackFeatures) -> np.ndarray:
        n = len(cons.groups)
        present = np.bincount(tf.track, minlength=n) > 0
        if not present.all() or not known_different:
            return cons.groups
        if camera is not None:
            tf = camera_centred(tf, camera)
        dist = lm.sample_pair_distance(tf.global_feat, tf.parts, tf.visibility, tf.track, n, reduce="min")
        threshold, _ = lk.calibrate_by_clustering(dist, known_different, cannot=cons.cannot, must=cons.must,
                                                  linkage=linkage, max_false_rate=MAX_FALSE_RATE)
        # Wrong pseudo-identities are trained in as positives, so they must be reliable (self-paced, as SpCL):
        # never beyond the 5% quantile of the held-out known-different distances. Measured on vtest: without
        # this cap clustering allowed 2.0 (no held-out pair joined) and 36 tracks became 8 pseudo-identities.
        cap = float(np.quantile(dist[ia, ib], 0.05))
        threshold = min(threshold, cap)
        return lk.constrained_agglomerative(dist, threshold, cannot=cons.cannot, must=cons.must, linkage=linkage)

    return label
