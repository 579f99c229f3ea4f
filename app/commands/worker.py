"""Run a queue worker: take queued ingest jobs (``reidwatch ingest --queue``) from the broker and ingest them."""

from __future__ import annotations

import argparse

from app.commands.common import add_db_argument, add_device_argument, add_engine_argument, config_from_args
from app.ops.metrics import add_metrics_arguments

HELP = "take queued ingest jobs from the broker and ingest them into the store"


def add_broker_argument(p: argparse.ArgumentParser) -> None:
    """``--broker URL`` (default: $REIDWATCH_BROKER, then ``[queue] broker`` in the config file)."""
    p.add_argument("--broker", metavar="URL", help="RabbitMQ broker, amqp://user:password@host:5672// (default: "
                   "$REIDWATCH_BROKER, then [queue] broker in the config file)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--concurrency", type=int, default=1, metavar="N",
                   help="jobs run at once, each in its own process with its own models (default 1)")
    p.add_argument("--name", help="worker name shown by `reidwatch queue` (default reidwatch-PID@HOST)")
    add_metrics_arguments(p)
    add_broker_argument(p)
    add_db_argument(p)
    add_device_argument(p)
    add_engine_argument(p)


def run(args: argparse.Namespace) -> int:
    from app.queue.broker import resolve_broker
    from app.queue.worker import WorkerOptions, run_worker

    cfg = config_from_args(args)
    broker = resolve_broker(args.broker, cfg)
    return run_worker(cfg, broker, WorkerOptions(concurrency=args.concurrency, name=args.name,
                                                 metrics_port=args.metrics_port, metrics_addr=args.metrics_addr))
