"""Losses for label-free site adaptation, on the same eq. 8 distance that matching uses.

Features are PGFA raw test features: a pose-guided global vector (B, Dg) and stripe vectors (B, P, Dp) with
stripe visibility (B, P). ``eq8_distance`` is PGFA eq. 8 written for autograd (no blocks, no in-place writes).

- ``memory_contrast``: each sample against one memory slot per pseudo-identity (cluster-contrast style):
  cross-entropy over ``1 - eq8`` similarities / temperature. Pseudo-identities are uncertain (refreshed by
  clustering during training), so they only shape the memory, never the hard negatives.
- ``cannot_link_margin``: for each anchor, its farthest same-pseudo-identity sample must be closer than its
  closest *certain* negative (a track seen at the same time in the same camera, or an operator's rejection)
  by ``margin``: the constraints linking trusts most are the ones training trusts most.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def normalise(global_feat: torch.Tensor, parts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalise the global (B, Dg) and every stripe (B, P, Dp) vector."""
    return F.normalize(global_feat.float(), dim=1), F.normalize(parts.float(), dim=2)


def eq8_distance(ga: torch.Tensor, pa: torch.Tensor, va: torch.Tensor, gb: torch.Tensor, pb: torch.Tensor,
                 vb: torch.Tensor) -> torch.Tensor:
    """PGFA eq. 8 between normalised features: (N, M) = (sum_i va vb d_i + d_global) / (sum_i va vb + 1)."""
    la, lb = va.float(), vb.float()
    shared = la @ lb.T
    part_sim = torch.einsum("npd,mpd->nmp", pa, pb)
    part_sum = shared - torch.einsum("nmp,np,mp->nm", part_sim, la, lb)
    d_global = 1.0 - ga @ gb.T
    return (part_sum + d_global) / (shared + 1.0)


def memory_contrast(g: torch.Tensor, p: torch.Tensor, v: torch.Tensor, labels: torch.Tensor,
                    mem_g: torch.Tensor, mem_p: torch.Tensor, *, temperature: float = 0.05,
                    allowed: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of each sample against the pseudo-identity memory (K slots, every stripe visible).

    ``allowed`` (B, K) bool limits the negatives of each sample (its own slot always counts): slots that may
    be the same person (a re-entry clustering has not joined yet) are better left out than pushed away.
    """
    ones = torch.ones(mem_p.shape[:2], device=mem_p.device)
    logits = (1.0 - eq8_distance(g, p, v, mem_g, mem_p, ones)) / temperature
    if allowed is not None:
        own = F.one_hot(labels, logits.shape[1]).bool()
        logits = logits.masked_fill(~(allowed | own), float("-inf"))
    return F.cross_entropy(logits, labels)


def slot_cannot_link(labels: torch.Tensor, cannot: torch.Tensor, k: int) -> torch.Tensor:
    """(K, K) bool: pseudo-identities with a certain-negative pair of tracks between them; labels (T,), cannot (T, T)."""
    onehot = F.one_hot(labels, k).float()
    return (onehot.T @ cannot.float() @ onehot) > 0


@torch.no_grad()
def update_memory(mem_g: torch.Tensor, mem_p: torch.Tensor, g: torch.Tensor, p: torch.Tensor,
                  labels: torch.Tensor, momentum: float = 0.2) -> None:
    """Move each used slot towards the mean of its batch samples, in place, and renormalise."""
    for k in labels.unique():
        sel = labels == k
        mem_g[k] = F.normalize((1 - momentum) * mem_g[k] + momentum * g[sel].mean(0), dim=0)
        mem_p[k] = F.normalize((1 - momentum) * mem_p[k] + momentum * p[sel].mean(0), dim=1)


def cannot_link_margin(dist: torch.Tensor, labels: torch.Tensor, cannot: torch.Tensor, *,
                       margin: float = 0.1) -> torch.Tensor:
    """Hardest-positive vs hardest-certain-negative hinge over a batch distance matrix (B, B).

    labels (B,) pseudo-identities; cannot (B, B) bool, certain negatives. Anchors without a positive or a
    certain negative do not count; zero when none qualifies.
    """
    b = len(labels)
    eye = torch.eye(b, dtype=torch.bool, device=dist.device)
    pos = (labels[:, None] == labels[None, :]) & ~eye
    neg = cannot & ~eye
    ok = pos.any(1) & neg.any(1)
    if not ok.any():
        return dist.sum() * 0.0
    hard_pos = dist.masked_fill(~pos, -1.0).amax(1)
    hard_neg = dist.masked_fill(~neg, 9.0).amin(1)
    return F.relu(hard_pos - hard_neg + margin)[ok].mean()
