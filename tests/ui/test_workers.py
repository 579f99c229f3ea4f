"""Background workers: results arrive on the UI thread, stale results are dropped, frames decode."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from PySide6.QtCore import QThread

from app.errors import UserError
from app.runtime import IngestRequest, Runtime
from app.store import open_database
from ui.workers import FrameRequest, FrameWorker, IngestWorker, TaskRunner


def test_runner_calls_back_on_the_ui_thread_with_the_result(qtbot) -> None:
    runner = TaskRunner(max_threads=2)
    ui_thread = QThread.currentThread()
    seen: list[tuple[object, bool, bool]] = []

    def work(x: int) -> tuple[int, str]:
        return x * 2, threading.current_thread().name

    def done(value: tuple[int, str]) -> None:
        seen.append((value[0], QThread.currentThread() is ui_thread, value[1] != threading.main_thread().name))

    runner.submit(work, 21, on_done=done)
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    assert seen == [(42, True, True)]  # computed on a pool thread, delivered on the UI thread
    assert runner.pending == 0
    runner.shutdown()


def test_runner_reports_errors_and_drops_superseded_results(qtbot) -> None:
    runner = TaskRunner(max_threads=2)
    got: list[object] = []
    errors: list[str] = []
    failed: list[str] = []
    runner.task_failed.connect(failed.append)

    def slow(v: str, delay: float) -> str:
        time.sleep(delay)
        return v

    def bad() -> None:
        raise UserError("no such camera")

    runner.submit(slow, "old", 0.4, on_done=got.append, key="list")
    runner.submit(slow, "new", 0.0, on_done=got.append, key="list")
    runner.submit(bad, on_error=errors.append)
    runner.submit(lambda: 1 / 0)
    qtbot.waitUntil(lambda: runner.pending == 0, timeout=5000)
    assert got == ["new"]  # the older task of the same key finished later and was dropped
    assert errors == ["no such camera"]
    assert failed == ["ZeroDivisionError: division by zero"]
    runner.shutdown()


def test_frame_worker_decodes_frames_with_their_overlays(qtbot, ui_store) -> None:
    db = open_database(ui_store.path, create=False)
    worker = FrameWorker(db=db)
    worker.start()
    results = []
    worker.frame_ready.connect(results.append)
    try:
        src = ui_store.sources["entrance"]
        from app.store.queries import source_of_track

        uri = source_of_track(db, ui_store.tracks["entrance/1"]).uri
        for frame in (12, 13, 3):  # sequential read, then a seek back
            worker.request(FrameRequest(src, uri, frame))
            qtbot.waitUntil(lambda f=frame: bool(results) and results[-1].frame == f, timeout=10000)
            res = results[-1]
            assert (res.image.width(), res.image.height()) == (768, 576)
            ids = sorted(o.track_id for o in res.overlays)
            expected = [ui_store.tracks["entrance/1"], ui_store.tracks["entrance/2"]]
            if 10 <= frame < 30:
                expected.append(ui_store.tracks["entrance/3"])
            assert ids == sorted(expected)
        errors: list[str] = []
        worker.failed.connect(errors.append)
        worker.request(FrameRequest(src, str(Path(uri).with_name("missing.avi")), 0))
        qtbot.waitUntil(lambda: bool(errors), timeout=10000)
        assert "cannot open video" in errors[0]
    finally:
        worker.stop()
        db.close()
    assert worker.isFinished()


def test_ingest_worker_reports_a_bad_file_without_loading_models(qtbot, tmp_path: Path) -> None:
    from app.config import Config

    db = open_database(tmp_path / "s.db")
    bad = tmp_path / "notes.avi"
    bad.write_text("not a video")
    worker = IngestWorker(db=db, runtime=Runtime(Config(db=tmp_path / "s.db")))
    failures: list[tuple[int, str]] = []
    worker.job_failed.connect(lambda j, m: failures.append((j, m)))
    worker.start()
    try:
        job = worker.enqueue(IngestRequest(path=bad, camera="x", start=None))
        qtbot.waitUntil(lambda: bool(failures), timeout=10000)
        assert failures[0][0] == job
        assert "not a video" in failures[0][1]
    finally:
        worker.stop()
        db.close()


def test_ingest_worker_cancelled_job_never_starts(qtbot, tmp_path: Path) -> None:
    from app.config import Config

    db = open_database(tmp_path / "s.db")
    worker = IngestWorker(db=db, runtime=Runtime(Config(db=tmp_path / "s.db")))
    finished: list[tuple[int, str, str]] = []
    worker.job_finished.connect(lambda j, s, m: finished.append((j, s, m)))
    job = worker.enqueue(IngestRequest(path=tmp_path / "never.avi", camera="x", start=None))
    worker.cancel(job)
    worker.start()
    try:
        qtbot.waitUntil(lambda: bool(finished), timeout=10000)
        assert finished[0][:2] == (job, "cancelled")
    finally:
        worker.stop()
        db.close()
