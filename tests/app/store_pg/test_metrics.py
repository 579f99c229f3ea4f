"""Issue 12: a real ``reidwatch ingest --metrics-port`` serves Prometheus metrics on 127.0.0.1 while it runs."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.ops import metrics

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        body = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(body) for s in fam.samples}


def test_ingest_serves_real_figures(tmp_path, vtest_path):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "-q", "ingest", str(vtest_path), "--camera", "gate",
                             "--db", str(tmp_path / "m.db"), "--imgsz", "640", "--device", "cpu", "--no-progress",
                             "--no-link", "--metrics-port", str(port)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    cam = (("camera", "gate"),)
    seen: dict = {}
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(1.0)
            try:
                seen = _scrape(port)
            except OSError:
                continue
            if seen.get(("reidwatch_store_write_seconds_count", (("op", "flush"),)), 0) > 0 \
                    and seen.get(("reidwatch_camera_frames_per_second", cam), 0) > 0:
                break
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    assert seen.get(("reidwatch_camera_frames_total", cam), 0) > 0, seen
    assert seen.get(("reidwatch_camera_detections_total", cam), 0) > 0
    assert seen.get(("reidwatch_camera_frames_per_second", cam), 0) > 0
    assert seen.get(("reidwatch_store_write_seconds_count", (("op", "flush"),)), 0) > 0
    assert seen[("reidwatch_store_write_errors_total", (("op", "flush"),))] == 0


def test_queue_and_lease_metrics_and_a_busy_port():
    port = metrics.serve_metrics(0)
    metrics.set_queue_jobs({"pending": 3, "running": 1})
    metrics.count_lease_change("door", "node-a")
    metrics.count_lease_change("door", "node-a")
    with pytest.raises(RuntimeError), metrics.timed_write("test-op"):
        raise RuntimeError("disk full")
    seen = _scrape(port)
    assert seen[("reidwatch_store_write_errors_total", (("op", "test-op"),))] == 1
    assert seen[("reidwatch_store_write_seconds_count", (("op", "test-op"),))] == 1
    assert seen[("reidwatch_queue_jobs", (("state", "pending"),))] == 3
    assert seen[("reidwatch_queue_jobs", (("state", "failed"),))] == 0
    assert seen[("reidwatch_lease_changes_total", (("camera", "door"), ("node", "node-a")))] == 2
    with pytest.raises(metrics.UserError, match="cannot serve metrics"):
        metrics.serve_metrics(port)
