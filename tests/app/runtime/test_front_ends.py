"""The CLI and the desktop application are two callers of one ``Runtime``: ``reidwatch ingest`` and the UI's
``IngestWorker`` given the same file and the same configuration store the same ``settings`` with the source."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

import ui  # noqa: F401 - sets Qt's plugin environment before pytest-qt makes the QApplication
from app.config import load_config
from app.runtime import IngestRequest, Runtime
from app.store import Database, open_database
from app.store import models as m
from ui.workers import IngestWorker

FRAMES = 6
CONFIG = """\
device = "cpu"

[detector]
conf = 0.2

[tracker]
name = "bytetrack"
"""


def stored_sources(db_path: Path) -> list[tuple[str, str, int, dict]]:
    """(camera, status, frames done, settings) of every source in the store, oldest first."""
    db = open_database(db_path, create=False)
    try:
        with db.session() as s:
            rows = s.execute(select(m.Camera.name, m.Source.status, m.Source.frames_done, m.Source.settings)
                             .join(m.Camera, m.Camera.id == m.Source.camera_id).order_by(m.Source.id)).all()
        return [(r[0], r[1], r[2], dict(r[3])) for r in rows]
    finally:
        db.close()


def cli_ingest(config: Path, db: Path, video: Path, camera: str, *extra: str) -> None:
    script = Path(sys.executable).with_name("reidwatch")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "app.cli"]
    proc = subprocess.run(
        [*cmd, "--config", str(config), "ingest", str(video), "--camera", camera, "--db", str(db),
         "--max-frames", str(FRAMES), "--no-progress", *extra],
        capture_output=True, text=True, timeout=900, check=False,
        env={k: v for k, v in os.environ.items() if k not in ("REIDWATCH_DB", "REIDWATCH_CONFIG")},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def ui_ingest(qtbot, worker: IngestWorker, request: IngestRequest) -> tuple[str, str]:
    finished: list[tuple[int, str, str]] = []
    failed: list[tuple[int, str]] = []
    worker.job_finished.connect(lambda j, st, msg: finished.append((j, st, msg)))
    worker.job_failed.connect(lambda j, msg: failed.append((j, msg)))
    job = worker.enqueue(request)
    qtbot.waitUntil(lambda: any(f[0] == job for f in finished) or any(f[0] == job for f in failed),
                    timeout=900_000)
    assert not failed, failed
    return next((st, msg) for j, st, msg in finished if j == job)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cli_settings(tmp_path_factory: pytest.TempPathFactory, config_file: Path, vtest_clip: Path) -> dict:
    """What ``reidwatch ingest`` stored with the clip's source (its own process, fresh models)."""
    db = tmp_path_factory.mktemp("cli") / "cli.db"
    cli_ingest(config_file, db, vtest_clip, "entrance")
    [(camera, status, done, settings)] = stored_sources(db)
    assert (camera, status, done) == ("entrance", "incomplete", FRAMES)  # --max-frames stops early
    assert settings["device"] == "cpu" and settings["conf"] == 0.2 and settings["tracker"] == "bytetrack"
    assert settings["refind_s"] == 1.5  # the default refind rule ran: this ingest links
    return settings


@pytest.mark.slow
def test_an_ingest_that_does_not_link_leaves_refinds_to_the_tracker(tmp_path: Path, config_file: Path,
                                                                     vtest_clip: Path, cli_settings: dict) -> None:
    cli_ingest(config_file, tmp_path / "nolink.db", vtest_clip, "entrance", "--no-link")
    [(_, _, _, settings)] = stored_sources(tmp_path / "nolink.db")
    assert settings["refind_s"] == 0  # nothing would stitch the parts, so no refind was split
    assert {k: v for k, v in settings.items() if k != "refind_s"} == \
        {k: v for k, v in cli_settings.items() if k != "refind_s"}


def ui_settings(qtbot, tmp_path: Path, config_file: Path, video: Path, stores: list[str]) -> list[dict]:
    """Ingest ``video`` once into each store, one after the other, with one IngestWorker and one Runtime
    (a desktop session); the settings each source was stored with."""
    cfg = replace(load_config(config_file), db=tmp_path / stores[0])
    dbs: list[Database] = [open_database(tmp_path / name) for name in stores]
    worker = IngestWorker(db=dbs[0], runtime=Runtime(cfg))
    worker.start()
    try:
        for db in dbs:
            worker.set_database(db)
            status, message = ui_ingest(qtbot, worker, IngestRequest(path=video, camera="entrance",
                                                                     max_frames=FRAMES))
            assert status == "incomplete", message
    finally:
        worker.stop()
        for db in dbs:
            db.close()
    out = []
    for name in stores:
        [(camera, status, done, settings)] = stored_sources(tmp_path / name)
        assert (camera, status, done) == ("entrance", "incomplete", FRAMES)
        out.append(settings)
    return out


@pytest.mark.slow
def test_cli_and_ui_record_the_same_settings(qtbot, tmp_path: Path, config_file: Path, vtest_clip: Path,
                                             cli_settings: dict) -> None:
    [settings] = ui_settings(qtbot, tmp_path, config_file, vtest_clip, ["ui.db"])
    assert settings == cli_settings


@pytest.mark.slow
def test_settings_do_not_depend_on_earlier_jobs_and_name_the_encoder(qtbot, tmp_path: Path, config_file: Path,
                                                                     vtest_clip: Path, cli_settings: dict) -> None:
    first, second = ui_settings(qtbot, tmp_path, config_file, vtest_clip, ["ui.db", "ui-again.db"])
    assert first == cli_settings
    assert "pgfa" in cli_settings["encoder"]  # the encoder the embeddings came from
    assert second == cli_settings  # the same window, its shared detector warm from the first file
