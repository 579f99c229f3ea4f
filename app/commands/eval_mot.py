"""Score a MOTChallenge tracking result against ground truth (MOTA, IDF1, HOTA, id switches)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("result", help="result file: frame,id,left,top,width,height,score,... (frame 1-based)")
    p.add_argument("gt", help="ground-truth file in the same format (7th column 0 = ignored annotation)")
    p.add_argument(
        "--frames",
        metavar="FIRST-LAST",
        help="inclusive 1-based frame range (default: 1 to the last ground-truth frame)",
    )
    p.add_argument(
        "--strict-ignored",
        action="store_true",
        help="count result boxes on ignored annotations as false positives (TrackEval's MOT15 rule)",
    )
    p.add_argument("--json", action="store_true", help="print all scores as one JSON object")


def run(args: argparse.Namespace) -> int:
    from app.mot.files import evaluate_mot, parse_frame_range

    frames = parse_frame_range(args.frames) if args.frames else None
    scores = evaluate_mot(args.result, args.gt, frames, forgive_ignored=not args.strict_ignored)
    if args.json:
        sys.stdout.write(json.dumps(asdict(scores), indent=2) + "\n")
    else:
        sys.stdout.write(scores.summary() + "\n")
    return 0
