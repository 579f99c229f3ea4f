"""Evaluate re-identification on a standard dataset: CMC rank-1/5/10 and mAP on its query/gallery split.

Embeds every query and gallery image with the same encoder the application uses (PGFA weights
given by --weights, else the best ImageNet backbone found offline), ranks the gallery for each
query with the visibility-aware PGFA distance (or the global feature only) and scores it with the
standard protocol (same person on the same camera excluded, queries without a match skipped).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from app.commands.train import add_keypoint_arguments, keypoints_or_fail, load_dataset_or_fail
from app.errors import UserError

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from reid_core.datasets import dataset_names

    p.add_argument("--dataset", required=True, help=f"one of: {', '.join(dataset_names())}")
    p.add_argument("--root", required=True, metavar="DIR", help="the dataset folder (or its parent)")
    p.add_argument("--weights", metavar="FILE", help="PGFA checkpoint (default: ImageNet backbone, raw features)")
    p.add_argument("--backbone", choices=("auto", "resnet50", "mobilenetv2"), default="auto",
                   help="backbone when no --weights are given")
    p.add_argument("--parts", type=int, default=3, help="stripes when no --weights are given (default 3)")
    p.add_argument("--distance", choices=("pgfa", "global"), default="pgfa",
                   help="pgfa: visibility-aware distance (eq. 8); global: pose-guided global feature only")
    p.add_argument("--batch-size", type=int, default=64, help="crops per forward pass (default 64)")
    p.add_argument("--device", default="auto", help="auto (default: GPU when there is one), cpu, or cuda:N")
    p.add_argument("--json", metavar="OUT", help="also write the scores to this JSON file")
    add_keypoint_arguments(p)


def _embed(encoder, records, keypoints, chunk: int = 512):
    from reid_core.encoder import Embedding
    from reid_core.transforms import load_rgb

    parts = []
    for start in range(0, len(records), chunk):
        crops = [load_rgb(r.path) for r in records[start : start + chunk]]
        parts.append(encoder.encode(crops, list(keypoints[start : start + chunk])))
    return Embedding.concat(parts)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from reid_core.metrics import distance_matrix, evaluate_rank
    from reid_core.weights import WeightsError, build_encoder

    dataset = load_dataset_or_fail(args.dataset, args.root)
    if args.batch_size < 1 or args.parts < 1:
        raise UserError("--batch-size and --parts must be >= 1")
    try:
        encoder = build_encoder(args.weights, backbone=args.backbone, parts=args.parts, device=args.device,
                                batch_size=args.batch_size)
    except WeightsError as exc:
        raise UserError(str(exc)) from None
    info = encoder.weights_info
    records = dataset.query + dataset.gallery
    keypoints = keypoints_or_fail(records, dataset, args, str(encoder.device))
    nq = len(dataset.query)
    query = _embed(encoder, dataset.query, keypoints[:nq])
    gallery = _embed(encoder, dataset.gallery, keypoints[nq:])

    def tensors(e):
        return [torch.from_numpy(a) for a in (e.global_feat, e.parts, e.visibility)]

    dist = distance_matrix(*tensors(query), *tensors(gallery), distance=args.distance, device=encoder.device)
    pid, cam = (lambda rs: np.array([r.pid for r in rs])), (lambda rs: np.array([r.camid for r in rs]))
    try:
        result = evaluate_rank(dist, pid(dataset.query), pid(dataset.gallery), cam(dataset.query),
                               cam(dataset.gallery), max_rank=10)
    except ValueError as exc:
        raise UserError(f"{args.dataset}: {exc}") from None
    scores = {
        "dataset": args.dataset,
        "distance": args.distance,
        "weights": str(info.path) if info and info.path else None,
        "weights_note": info.note if info else "",
        "queries": result.num_valid,
        "queries_skipped": result.num_skipped,
        "gallery": len(dataset.gallery),
        "rank1": result.rank(1),
        "rank5": result.rank(5),
        "rank10": result.rank(10),
        "mAP": result.mean_ap,
    }
    sys.stdout.write(
        f"{args.dataset}: {result.num_valid} queries ({result.num_skipped} without a match skipped), "
        f"{len(dataset.gallery)} gallery images; {args.distance} distance; weights: "
        f"{scores['weights'] or 'none'} ({scores['weights_note']})\n"
        f"rank-1 {100 * result.rank(1):.1f}  rank-5 {100 * result.rank(5):.1f}  "
        f"rank-10 {100 * result.rank(10):.1f}  mAP {100 * result.mean_ap:.1f}\n"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(scores, indent=2) + "\n")
    return 0
