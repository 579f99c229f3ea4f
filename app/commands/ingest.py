"""Ingest a video file: detect people and keypoints, track them, embed their best samples, store everything."""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace

from tqdm import tqdm

from app.commands.common import add_db_argument, add_device_argument, add_engine_argument, open_db, parse_time
from app.commands.worker import add_broker_argument
from app.errors import UserError
from app.ingest.job import AlreadyIngestedError
from app.ingest.video import probe_video
from app.ops.metrics import add_metrics_arguments, serve_from_args
from app.runtime import IngestRequest, Runtime
from app.training.active import adapt_hint

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", nargs="+", metavar="FILE",
                   help="video file to ingest (with --queue: one or more, each queued as one job)")
    p.add_argument("--queue", action="store_true",
                   help="queue the files for `reidwatch worker`s instead of ingesting here (the files must be "
                        "on storage every worker reaches, at the same path)")
    add_broker_argument(p)
    p.add_argument("--camera", required=True, help="camera name (created when new)")
    p.add_argument("--start", help="wall-clock time of the first frame, ISO 8601 (default: the file's mtime)")
    p.add_argument("--fps", type=float, help="override the frame rate the file reports")
    p.add_argument("--force", action="store_true", help="redo a file that was already ingested")
    p.add_argument("--tracker", help="bytetrack or deepsort (default from config)")
    p.add_argument("--imgsz", help="detector input size, or auto (default: chosen from the frame size)")
    p.add_argument("--weights", help="PGFA encoder checkpoint (default: best available ImageNet backbone)")
    p.add_argument("--detector-weights", help="YOLO pose weights (default: yolo11n-pose.pt)")
    p.add_argument("--no-link", action="store_true", help="do not link identities after ingest")
    p.add_argument("--max-frames", type=int, help="stop after this many frames (for quick looks)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_db_argument(p)
    add_metrics_arguments(p)
    add_device_argument(p)
    add_engine_argument(p)


def run(args: argparse.Namespace) -> int:
    if args.queue:
        return _enqueue(args)
    if len(args.video) > 1:
        raise UserError(f"{len(args.video)} files given: ingest one at a time, or queue them all with --queue")
    cfg, db = open_db(args)
    serve_from_args(args)
    info = probe_video(args.video[0])  # validate before loading any model
    start = parse_time(args.start, "--start")
    det = cfg.detector
    if args.imgsz:
        if args.imgsz != "auto" and not args.imgsz.isdigit():
            raise UserError(f"--imgsz must be a number or auto, not {args.imgsz!r}")
        det = replace(det, imgsz=int(args.imgsz) if args.imgsz.isdigit() else "auto")
    if args.detector_weights:
        det = replace(det, weights=args.detector_weights)
    cfg = replace(cfg, detector=det)
    if args.tracker:
        cfg = replace(cfg, tracker=replace(cfg.tracker, name=args.tracker))
    if args.weights:
        cfg = replace(cfg, encoder=replace(cfg.encoder, weights=args.weights))
    runtime = Runtime(cfg)
    request = IngestRequest(path=info.path, camera=args.camera, start=start, fps=args.fps, force=args.force,
                            max_frames=args.max_frames, link=not args.no_link)
    bar = None if args.no_progress else tqdm(total=info.frame_count or None, unit="frame", dynamic_ncols=True,
                                              desc=args.camera)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.n = done
            bar.refresh()

    def on_state(text: str) -> None:
        log.info("%s", text)
        if bar is not None and text.startswith("ingesting"):
            bar.set_description(f"{args.camera} [{runtime.models().device_label}]", refresh=False)

    try:
        outcome = runtime.ingest(db, request, progress=progress, on_state=on_state)
    except KeyboardInterrupt:
        raise UserError("interrupted: the frames processed so far are stored and the source is marked "
                        "incomplete; run the same command again to resume") from None
    except AlreadyIngestedError as exc:
        raise UserError(f"{exc}: use --force") from None
    finally:
        if bar is not None:
            bar.close()
    result = outcome.result
    message = result.message + (" (use --force to redo it)" if result.status == "skipped" else "")
    log.info("%s", message)
    print(message)
    if outcome.link_summary:
        print(outcome.link_summary)
        hint = adapt_hint(db)
        if hint:
            print(hint)
    db.close()
    if outcome.link_error:
        raise UserError(f"the video is stored, but linking failed: {outcome.link_error}; run `reidwatch link`")
    return 0


_WORKER_SIDE = ("tracker", "imgsz", "weights", "detector_weights", "max_frames", "device", "engine")


def _enqueue(args: argparse.Namespace) -> int:
    """``ingest --queue``: one job per file on the broker, recorded in the store; workers ingest them."""
    from app.queue.broker import resolve_broker
    from app.queue.enqueue import enqueue_files

    given = [f"--{name.replace('_', '-')}" for name in _WORKER_SIDE if getattr(args, name, None)]
    if given:
        raise UserError(f"{', '.join(given)} cannot be queued: each worker ingests with its own configuration "
                        "(set them in the workers' config file or `reidwatch worker` options)")
    if args.start and len(args.video) > 1:
        raise UserError("--start gives the first frame's time of one file: queue files with different start times "
                        "one at a time (without --start, each file's modification time is used)")
    cfg, db = open_db(args)
    try:
        broker = resolve_broker(args.broker, cfg)
        start = parse_time(args.start, "--start")
        options = {"start": start.isoformat() if start else None, "fps": args.fps, "force": args.force,
                   "link": not args.no_link}
        queued = enqueue_files(db, broker, args.video, camera=args.camera, options=options)
    finally:
        db.close()
    for q in queued:
        print(f"queued {q.path} as job {q.job_id[:12]}")
    print(f"{len(queued)} job(s) queued for camera {args.camera}; `reidwatch queue` shows their progress")
    return 0
