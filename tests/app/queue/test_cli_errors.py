"""Queue commands' mistakes: one clear line, exit 2, no traceback, no password shown, nothing queued."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from devkit.rabbitmq import free_port

SECRET = "hunter2-not-for-logs"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run ``reidwatch`` in this process with an empty config file: (exit status, stdout, stderr)."""
    monkeypatch.delenv("REIDWATCH_BROKER", raising=False)
    config = tmp_path / "config.toml"
    config.write_text("")

    def run(*args: str, config_text: str | None = None) -> tuple[int, str, str]:
        if config_text is not None:
            config.write_text(config_text)
        status = main(["--config", str(config), *args])
        out = capsys.readouterr()
        return status, out.out, out.err

    return run


def one_error(result: tuple[int, str, str], needle: str) -> str:
    status, out, err = result
    assert status == 2, (out, err)
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("reidwatch: error:")]
    assert len(errors) == 1, err
    assert needle in errors[0], errors[0]
    assert SECRET not in out + err
    return errors[0]


def test_no_broker_anywhere_says_where_to_give_one(cli, vtest_clip: Path, tmp_path: Path) -> None:
    line = one_error(cli("ingest", "--queue", str(vtest_clip), "--camera", "a", "--db", str(tmp_path / "s.db")),
                     "no broker")
    assert "--broker" in line and "REIDWATCH_BROKER" in line and "[queue]" in line
    one_error(cli("worker", "--db", str(tmp_path / "s.db")), "no broker")


def test_a_broker_url_that_is_not_amqp_is_refused_from_flag_env_and_config(cli, monkeypatch, vtest_clip: Path,
                                                                         tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    line = one_error(cli("ingest", "--queue", str(vtest_clip), "--camera", "a", "--db", db,
                         "--broker", f"redis://u:{SECRET}@127.0.0.1:6379/0"), "is not an AMQP URL")
    assert "redis://***@127.0.0.1:6379/0" in line
    one_error(cli("worker", "--db", db, config_text=f'[queue]\nbroker = "http://u:{SECRET}@127.0.0.1/"\n'),
              "is not an AMQP URL")
    monkeypatch.setenv("REIDWATCH_BROKER", "amqp://")
    one_error(cli("worker", "--db", db), "names no host")


def test_an_unreachable_broker_is_one_line_and_queues_nothing(cli, vtest_clip: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    url = f"amqp://rw:{SECRET}@127.0.0.1:{free_port()}//"
    line = one_error(cli("ingest", "--queue", str(vtest_clip), "--camera", "a", "--db", db, "--broker", url),
                     "cannot reach the broker at amqp://***@127.0.0.1:")
    assert "refused" in line.lower()
    one_error(cli("worker", "--db", db, "--broker", url), "cannot reach the broker")
    status, out, _ = cli("queue", "--db", db)
    assert status == 0 and out.splitlines() == ["0 pending, 0 running, 0 done, 0 failed", "no jobs"]


def test_queue_flags_that_belong_to_workers_or_to_one_file(cli, vtest_clip: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    one_error(cli("ingest", str(vtest_clip), str(vtest_clip), "--camera", "a", "--db", db), "2 files given")
    one_error(cli("ingest", "--queue", str(vtest_clip), "--camera", "a", "--db", db, "--tracker", "deepsort",
                  "--broker", "amqp://127.0.0.1//"), "--tracker cannot be queued")
    one_error(cli("ingest", "--queue", str(tmp_path / "nope.avi"), "--camera", "a", "--db", db,
                  "--broker", f"amqp://u:{SECRET}@127.0.0.1:{free_port()}//"), "video file not found")
    one_error(cli("worker", "--concurrency", "0", "--db", db, "--broker", "amqp://127.0.0.1//"),
              "--concurrency must be 1 or more")
    one_error(cli("queue", "--db", str(tmp_path / "none.db")), "no database at")
    one_error(cli("worker", "--db", str(tmp_path / "none.db"), "--broker", "amqp://127.0.0.1//"), "no database at")


def test_a_refused_login_is_one_line_without_the_password(cli, rabbit, vtest_clip: Path, tmp_path: Path) -> None:
    url = f"amqp://{rabbit.user}:{SECRET}@127.0.0.1:{rabbit.port}//"
    line = one_error(cli("ingest", "--queue", str(vtest_clip), "--camera", "a", "--db", str(tmp_path / "s.db"),
                         "--broker", url), "cannot reach the broker")
    assert "ACCESS_REFUSED" in line
    assert cli("queue", "--db", str(tmp_path / "s.db"))[1].startswith("0 pending, 0 running, 0 done, 0 failed")


def test_one_start_time_for_several_queued_files_is_refused(cli, vtest_clip: Path, vtest_path: Path,
                                                           tmp_path: Path) -> None:
    one_error(cli("ingest", "--queue", str(vtest_clip), str(vtest_path), "--camera", "a", "--db",
                  str(tmp_path / "s.db"), "--start", "2026-12-01T10:00:00", "--broker", "amqp://127.0.0.1//"),
              "--start gives the first frame's time of one file")
