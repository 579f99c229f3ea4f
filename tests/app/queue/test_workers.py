"""Two workers ingest four files from a real RabbitMQ; one is killed with SIGKILL mid-file (issue 12, part 5).

The killed worker's job goes back to the broker at once (late acknowledgement), the other worker takes it over
and resumes the file from the last stored frame: every file is stored exactly once, with all its frames and no
(track, frame) twice, and every job ends done. A file no worker can read fails with one line; a file queued again
after it is stored is marked done without ingesting it again. The broker's password shows nowhere.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import pytest
from sqlalchemy import text

from app.cli import main
from app.store import open_database

pytestmark = pytest.mark.slow
FRAMES = 60  # 12 s at 5 frames/s: stores flush at frames 25 and 50, so a worker can be killed mid-file


def write_clips(folder: Path, vtest: Path, n: int) -> list[Path]:
    """``n`` clips of vtest.avi (different stretches, a 384x288 crop where people walk) at 5 frames/s."""
    cap = cv2.VideoCapture(str(vtest))
    clips = []
    for i in range(n):
        path = folder / f"clip{i}.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (384, 288))
        cap.set(cv2.CAP_PROP_POS_FRAMES, 100 + 150 * i)
        for _ in range(FRAMES):
            ok, frame = cap.read()
            assert ok
            writer.write(frame[200:488, 192:576])
        writer.release()
        clips.append(path)
    cap.release()
    return clips


class Store:
    """Reads the store the workers write, on either backend."""

    def __init__(self, location: str) -> None:
        self.db = open_database(location)

    def rows(self, sql: str) -> list[tuple]:
        with self.db.session() as s:
            return [tuple(r) for r in s.execute(text(sql)).all()]

    def one(self, sql: str) -> object:
        return self.rows(sql)[0][0]


def wait_for(what: str, check, timeout_s: float, procs: list[subprocess.Popen]) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; workers' exit codes {[p.poll() for p in procs]}")


def test_two_workers_one_killed_mid_file_every_file_stored_once(tmp_path: Path, vtest_path: Path, rabbit,
                                                               store_url: str, monkeypatch, capsys) -> None:
    secret = rabbit.password
    media = tmp_path / "shared"  # the storage every worker reaches
    media.mkdir()
    clips = write_clips(media, vtest_path, 4)
    gone = media / "gone.avi"
    shutil.copy(clips[0], gone)
    config = tmp_path / "config.toml"
    # torch engines: no per-worker engine export or measurement in the test's fresh cache
    config.write_text('[encoder]\nbackbone = "mobilenetv2"\nengine = "torch"\n'
                      '[detector]\nimgsz = 384\nengine = "torch"\n')
    env = {**os.environ, "REIDWATCH_BROKER": rabbit.url()}
    base = [sys.executable, "-m", "app.cli", "--config", str(config)]

    monkeypatch.setenv("REIDWATCH_BROKER", rabbit.url())

    def rw(*args: str) -> tuple[int, str]:
        """``reidwatch ARGS --db STORE`` in this process: (exit status, stdout)."""
        status = main(["--config", str(config), *args, "--db", store_url])
        out = capsys.readouterr()
        assert secret not in out.out + out.err
        return status, out.out

    status, out = rw("ingest", "--queue", *map(str, clips), str(gone), "--camera", "hall")
    assert status == 0 and "5 job(s) queued" in out
    gone.unlink()  # after queueing, before any worker: no worker can read it
    store = Store(store_url)
    assert store.rows("SELECT state, count(*) FROM queue_jobs GROUP BY state") == [("pending", 5)]

    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = [subprocess.Popen([*base, "worker", "--db", store_url, "--device", "cpu", "--metrics-port", "0"], env=env,
                                stdout=log.open("w"), stderr=subprocess.STDOUT) for log in logs]
    try:
        def mid_file() -> tuple | None:
            found = store.rows("SELECT j.worker, s.id, s.uri, s.frames_done FROM queue_jobs j JOIN sources s "
                               "ON s.uri = j.path WHERE j.state = 'running' AND s.status = 'running' "
                               f"AND s.frames_done >= 25 AND s.frames_done < {FRAMES}")
            return found[0] if found else None

        worker, source_id, uri, frames_at_kill = wait_for("a worker mid-file", mid_file, 400, workers)
        pid = int(re.match(r"reidwatch-(\d+)@", worker).group(1))
        victim = next(p for p in workers if p.pid == pid)
        os.kill(pid, signal.SIGKILL)
        victim.wait(30)
        survivor = next(p for p in workers if p is not victim)

        def all_ended() -> bool:
            failed = store.rows("SELECT path, error FROM queue_jobs WHERE state = 'failed'")
            assert len(failed) <= 1, f"only the unreadable file fails: {failed}"
            return dict(store.rows("SELECT state, count(*) FROM queue_jobs GROUP BY state")) == {"done": 4,
                                                                                              "failed": 1}

        wait_for("every job to end", all_ended, 400, [survivor])
        assert survivor.poll() is None, "the surviving worker keeps running"

        jobs = {r[0]: r[1:] for r in store.rows("SELECT path, state, attempts, worker, error FROM queue_jobs")}
        state, attempts, last_worker, _ = jobs[uri]
        assert (state, attempts) == ("done", 2), "the killed worker's job was taken over and finished"
        assert last_worker.startswith(f"reidwatch-{survivor.pid}@")
        assert all(jobs[str(c)][:2] == ("done", 1) for c in clips if str(c) != uri)
        state, _, _, error = jobs[str(gone)]
        assert state == "failed" and "cannot read" in error and "gone.avi" in error
        assert "storage every worker reaches" in error

        sources = store.rows("SELECT uri, id, status, frames_done, frame_count FROM sources ORDER BY uri")
        assert [(u, st, fd, fc) for u, _, st, fd, fc in sources] == [
            (str(c), "complete", FRAMES, FRAMES) for c in clips], "each file stored once, every frame of it"
        assert dict((u, i) for u, i, *_ in sources)[uri] == source_id, "the killed file resumed, not restarted"
        assert store.one("SELECT count(*) FROM (SELECT track_id, frame FROM observations "
                         "GROUP BY track_id, frame HAVING count(*) > 1) d") == 0, "no (track, frame) twice"
        before, after = store.rows(f"SELECT min(o.frame), max(o.frame) FROM observations o JOIN tracks t "
                                   f"ON t.id = o.track_id WHERE t.source_id = {source_id}")[0]
        assert before < frames_at_kill <= after < FRAMES, "observations from before and after the kill"
        assert store.one("SELECT count(*) FROM tracks WHERE thumbnail IS NULL") == 0, "every track closed"

        log = logs[workers.index(survivor)]
        port = wait_for("the metrics port", lambda: re.search(r"metrics on http://127.0.0.1:(\d+)/", log.read_text()),
                        60, [survivor]).group(1)

        def scraped() -> bool:
            page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
            return ('reidwatch_queue_jobs{state="done"} 4.0' in page
                    and 'reidwatch_queue_jobs{state="failed"} 1.0' in page)

        wait_for("the queue depth in the worker's metrics", scraped, 60, [survivor])

        # queued again once stored: done without a second ingest
        observations = store.one("SELECT count(*) FROM observations")
        assert rw("ingest", "--queue", str(clips[1]), "--camera", "hall")[0] == 0
        wait_for("the repeated job", lambda: store.one("SELECT count(*) FROM queue_jobs WHERE state = 'done'") == 5,
                 200, [survivor])
        message = store.one(f"SELECT message FROM queue_jobs WHERE path = '{clips[1]}' AND attempts = 1 "
                            "ORDER BY created_at DESC LIMIT 1")
        assert "already stored" in str(message)
        assert store.one("SELECT count(*) FROM sources") == 4
        assert store.one("SELECT count(*) FROM observations") == observations

        status, shown = rw("queue")
        assert status == 0 and shown.splitlines()[0] == "0 pending, 0 running, 5 done, 1 failed"
        assert "gone.avi" in shown and "error: worker" in shown

        survivor.send_signal(signal.SIGTERM)  # warm shutdown: nothing running, exits at once
        assert survivor.wait(60) == 0
        stored = repr([store.rows(f"SELECT * FROM {t}") for t in ("queue_jobs", "sources", "cameras", "settings")])
        assert secret not in stored and "amqp" not in stored, "the broker URL is never stored"
    finally:
        for p in workers:
            if p.poll() is None:
                p.kill()
                p.wait(30)
        store.db.close()
    for log in logs:
        assert secret not in log.read_text(), "the broker password never reaches a log"
    if not store_url.startswith("postgresql"):
        for f in tmp_path.glob("store.db*"):
            assert secret.encode() not in f.read_bytes()
