"""Issue 12: the same clip through ingest -> link -> search -> report on SQLite and on PostgreSQL gives the same
tracks, the same identities, the same search answer and the same report; the CLI refuses URLs it cannot serve."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.store import models as m
from app.store import open_database, repo

ROOT = Path(__file__).resolve().parents[3]


def _cli(db: str, *argv: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", "-q", *argv, "--db", db], capture_output=True,
                          text=True, timeout=600, cwd=ROOT, env=env)


def _pipeline(db: str, clip: Path, out: Path, env: dict) -> dict:
    ingest = _cli(db, "ingest", str(clip), "--camera", "gate", "--start", "2026-11-27T10:00:00", "--imgsz", "1280",
                  "--no-progress", "--device", "cpu", env=env)
    assert ingest.returncode == 0, ingest.stderr
    link = _cli(db, "link", "--threshold", "0.35", env=env)
    assert link.returncode == 0 and "linked" in link.stdout, link.stderr
    store = open_database(db, create=False)  # read back through the app: the same types from both backends
    with store.session() as s:
        rows = repo.list_tracks(s)
        n_emb = s.scalar(select(func.count(m.Embedding.id)))
    store.close()
    tracks = sorted((t.local_id, t.first_frame, t.last_frame, t.n_obs, t.start_time, t.end_time) for t in rows)
    by_ident: dict[int, list[int]] = {}
    for t in rows:
        if t.identity_id is not None:
            by_ident.setdefault(t.identity_id, []).append(t.local_id)
    groups = sorted(sorted(v) for v in by_ident.values())
    first = min(rows, key=lambda t: t.local_id).id
    local_of = {t.id: t.local_id for t in rows}
    found = _cli(db, "search", "--track", str(first), "-k", "5", env=env)
    assert found.returncode == 0, found.stderr
    hits = [(local_of[int(r.split()[2])], round(float(r.split()[1]), 3)) for r in found.stdout.splitlines()[1:-1]]
    report = _cli(db, "report", "--out", str(out), env=env)
    assert report.returncode == 0, report.stderr
    data = json.loads(out.read_text())
    return {"tracks": tracks, "groups": groups, "hits": hits, "embeddings": n_emb, "report": data}


def _sightings(report: dict) -> list:
    """The report's identities as sets of (camera, start, end), ids left out (they may differ)."""
    out = []
    for ident in report.get("identities", []):
        out.append(sorted((s.get("camera"), s.get("start"), s.get("end")) for s in ident.get("sightings", [])))
    return sorted(out)


@pytest.mark.slow
def test_same_clip_same_results_on_sqlite_and_postgresql(tmp_path, vtest_clip, postgres_server):
    env = {**os.environ, "REIDWATCH_FILES": str(tmp_path / "files")}
    lite = _pipeline(str(tmp_path / "e2e.db"), vtest_clip, tmp_path / "lite.json", env)
    pg_url = postgres_server.url(driver="postgresql")
    pg = _pipeline(pg_url, vtest_clip, tmp_path / "pg.json", env)
    assert lite["tracks"] and lite["embeddings"] > 0
    assert pg["tracks"] == lite["tracks"]  # same boxes, frames and times (naive UTC on both)
    assert pg["embeddings"] == lite["embeddings"]
    assert pg["groups"] == lite["groups"] and len(lite["groups"]) >= 2  # the same identities
    assert pg["hits"] == lite["hits"] and lite["hits"]
    assert _sightings(pg["report"]) == _sightings(lite["report"])
    info = _cli(pg_url, "info", env=env)
    assert info.returncode == 0 and "database: postgresql" in info.stdout and "gate" in info.stdout


@pytest.mark.parametrize("url", ["mysql://u:s3cret@127.0.0.1/site", "http://127.0.0.1/site",
                                 "postgresql+psycopg2://u:s3cret@127.0.0.1/site",
                                 "postgresql://postgres:s3cret@127.0.0.1:9/site", "postgresql://u@127.0.0.1/"])
def test_urls_it_cannot_serve_are_refused_in_one_line(tmp_path, monkeypatch, capsys, url, vtest_clip):
    from app.cli import main

    monkeypatch.chdir(tmp_path)
    code = main(["ingest", str(vtest_clip), "--camera", "c", "--db", url, "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and "database" in err and "Traceback" not in err, err
    assert "s3cret" not in out + err
    assert list(tmp_path.iterdir()) == []  # no folder named after the URL, no SQLite file


def test_the_command_from_the_issue_is_refused(tmp_path, vtest_clip):
    """`reidwatch ingest ... --db postgresql://postgres@127.0.0.1:55432/site` with no server there."""
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(vtest_clip), "--camera", "c", "--db",
                        f"postgresql://postgres:pw@127.0.0.1:{port}/site"], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "cannot open database" in r.stderr, r.stderr
    assert ":pw@" not in r.stderr and list(tmp_path.iterdir()) == []
