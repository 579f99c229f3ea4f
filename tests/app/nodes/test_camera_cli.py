"""`reidwatch camera add/list/remove` as a user runs it, on SQLite and PostgreSQL: a URL with credentials is
refused, an environment placeholder is stored instead of the URL, and no credential reaches the database."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from app.errors import UserError
from app.nodes.registry import load_secrets

PASSWORD = "hunter2-Zq9"


def database_text(store: str, postgres_server: object | None) -> bytes:
    """Everything the store holds, as bytes: the SQLite files, or a pg_dump of the database."""
    if "://" not in store:
        return b"".join(p.read_bytes() for p in Path(store).parent.glob(Path(store).name + "*"))
    url = store.replace("postgresql+psycopg://", "postgresql://")
    dump = Path(postgres_server.bindir) / "pg_dump"  # type: ignore[union-attr]
    return subprocess.run([str(dump), url], check=True, capture_output=True).stdout


def test_camera_add_list_remove(store_url, capsys, monkeypatch, request):
    pg = request.getfixturevalue("postgres_server") if "://" in store_url else None
    secret_url = f"rtsp://op:{PASSWORD}@127.0.0.1:8554/lobby"
    assert main(["camera", "add", "lobby", "--url", secret_url, "--db", store_url]) == 2
    err = capsys.readouterr().err
    assert "refusing to store a URL with credentials" in err and PASSWORD not in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert main(["camera", "add", "gate", "--url", "rtsp://127.0.0.1:8554/g?token=abc", "--db", store_url]) == 2

    monkeypatch.setenv("LOBBY_URL", secret_url)
    assert main(["camera", "add", "lobby", "--url-env", "LOBBY_URL", "--db", store_url]) == 0
    assert main(["camera", "add", "door", "--url", "rtsp://127.0.0.1:8554/door", "--db", store_url]) == 0
    assert main(["camera", "add", "door", "--url", "rtsp://127.0.0.1:8554/door", "--db", store_url]) == 2
    assert "already registered" in capsys.readouterr().err
    assert main(["camera", "list", "--db", store_url]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].split() == ["CAMERA", "URL", "NODE", "HEALTH", "SINCE", "FPS"]
    assert lines[1].split()[:4] == ["door", "rtsp://127.0.0.1:8554/door", "-", "free"]
    assert lines[2].split()[:4] == ["lobby", "rtsp://***@127.0.0.1:8554/lobby", "-", "free"]
    assert PASSWORD not in out

    assert main(["camera", "remove", "door", "--db", store_url]) == 0
    assert main(["camera", "remove", "door", "--db", store_url]) == 2
    assert "no registered camera named 'door'" in capsys.readouterr().err
    assert main(["camera", "list", "--db", store_url]) == 0
    assert [ln.split()[0] for ln in capsys.readouterr().out.strip().splitlines()[1:]] == ["lobby"]

    dumped = database_text(store_url, pg)
    assert b"env:LOBBY_URL" in dumped and b"127.0.0.1:8554/lobby" in dumped  # the dump really holds the store
    assert PASSWORD.encode() not in dumped and b"op:" not in dumped


def test_secrets_file_must_be_private(tmp_path):
    path = tmp_path / "secrets.toml"
    path.write_text(f'lobby = "rtsp://op:{PASSWORD}@127.0.0.1:8554/lobby"\n')
    os.chmod(path, 0o644)
    with pytest.raises(UserError, match="chmod 600") as err:
        load_secrets(path)
    assert PASSWORD not in str(err.value)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    assert load_secrets(path) == {"lobby": f"rtsp://op:{PASSWORD}@127.0.0.1:8554/lobby"}
    path.write_text(f'lobby = "rtsp://op:{PASSWORD}@127.0.0.1:8554/lobby\n')  # broken TOML
    with pytest.raises(UserError) as err:
        load_secrets(path)
    assert PASSWORD not in str(err.value)


def test_watch_node_refuses_bad_arguments(tmp_path):
    db = str(tmp_path / "s.db")
    run = [sys.executable, "-m", "app.cli", "watch", "--db", db]
    for extra, says in ((["--node", "a", "--camera", "x=rtsp://127.0.0.1/s"], "not both"),
                        (["--camera", "x=rtsp://127.0.0.1/s", "--max-cameras", "2"], "go with --node"),
                        (["--node", "a", "--max-cameras", "0"], "at least 1"),
                        (["--node", "bad name"], "bad node name")):
        out = subprocess.run(run + extra, capture_output=True, text=True, timeout=120)
        assert out.returncode == 2 and says in out.stderr and "Traceback" not in out.stderr, out.stderr
