"""The link / search / match / identity commands, in process on real stores, and once end to end on a real clip."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.cli import main
from devkit.synthetic_store import build_store, identity_groups


@pytest.fixture
def store(tmp_path):
    st = build_store(tmp_path / "s.db")
    assert main(["-q", "link", "--db", str(st.db.path)]) == 0
    return st


def _run(capsys, *argv):
    code = main(["-q", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_link_search_and_identity_commands(store, capsys):
    db = ["--db", str(store.db.path)]
    code, out, _ = _run(capsys, "link", "--threshold", "0.5", "--cameras", "A,B", *db)
    assert code == 0 and "linked 20 tracks into 5 identities" in out and "threshold 0.500, given" in out
    q = store.tracks_of(0)[0]
    code, out, _ = _run(capsys, "search", "--track", str(q), "-k", "3", *db)
    lines = out.splitlines()
    assert code == 0 and lines[-1] == f"3 candidate(s) for track {q}"
    ranked = [int(line.split()[2]) for line in lines[1:4]]
    assert all(store.truth[t] == 0 for t in ranked)
    code, out, _ = _run(capsys, "search", "--track", str(q), "--camera", "B", "--from", "2026-11-27T10:20:00", *db)
    assert code == 0 and all(" B " in line for line in out.splitlines()[1:-1])
    ident = identity_groups(store.db, [q])[q]
    assert _run(capsys, "identity", "rename", str(ident), "Dana", "--who", "op", *db)[0] == 0
    assert _run(capsys, "identity", "watch", str(ident), *db)[0] == 0
    code, out, _ = _run(capsys, "identity", "list", "--watched", *db)
    assert code == 0 and "Dana [watch]" in out and out.strip().endswith("1 identities")
    code, out, _ = _run(capsys, "identity", "show", str(ident), *db)
    assert code == 0 and out.count("  track ") == 4 and out.count("  link ") == 3
    other = identity_groups(store.db, [store.tracks_of(1)[0]])[store.tracks_of(1)[0]]
    code, out, _ = _run(capsys, "identity", "merge", str(ident), str(other), *db)
    assert code == 0 and f"into {ident}" in out
    code, out, _ = _run(capsys, "identity", "split", str(ident), "--track", str(store.tracks_of(1)[0]), *db)
    assert code == 0 and "into new identity" in out
    code, out, _ = _run(capsys, "identity", "undo", *db)
    assert code == 0 and "undid decision" in out and "(split by" in out


def test_match_commands(store, capsys):
    db = ["--db", str(store.db.path)]
    code, out, _ = _run(capsys, "match", "list", "--limit", "2", *db)
    assert code == 0 and out.strip().endswith("2 link(s) awaiting review")
    a, b = store.tracks_of(2)[:2]
    code, out, _ = _run(capsys, "match", "reject", str(a), str(b), "--who", "op", *db)
    assert code == 0 and "different people" in out
    groups = identity_groups(store.db, [a, b])
    assert groups[a] != groups[b]
    code, out, _ = _run(capsys, "match", "confirm", str(a), str(b), *db)
    assert code == 0 and "one person" in out
    _run(capsys, "link", *db)
    groups = identity_groups(store.db, [a, b])
    assert groups[a] == groups[b]  # the later decision (confirm) wins
    code, out, _ = _run(capsys, "match", "undo", *db)
    assert code == 0 and "(confirm by" in out


@pytest.mark.parametrize("argv, message", [
    (["match", "confirm", "1", "999"], "no track 999 in the store"),
    (["match", "reject", "3", "3"], "given twice"),
    (["identity", "show", "999"], "no identity 999 in the store"),
    (["identity", "rename", "999", "x"], "no identity 999 in the store"),
    (["identity", "merge", "1", "999"], "no identity 999 in the store"),
    (["identity", "split", "1", "--track", "999"], "no track 999 in the store"),
    (["search", "--track", "999"], "no track 999 in the store"),
    (["search", "--track", "1", "-k", "0"], "-k must be at least 1"),
    (["search", "--track", "1", "--from", "yesterday"], "cannot read --from"),
    (["search", "--image", "/no/such.jpg"], "no image file /no/such.jpg"),
    (["link", "--cameras", "nowhere"], "unknown camera(s) nowhere"),
    (["link", "--threshold", "5"], "between 0 and 2"),
])
def test_bad_input_exits_2_with_one_line(store, capsys, argv, message):
    code, out, err = _run(capsys, *argv, "--db", str(store.db.path))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("reidwatch: error: ") and message in err


def test_missing_database_is_one_line(tmp_path, capsys):
    code, _, err = _run(capsys, "identity", "list", "--db", str(tmp_path / "none.db"))
    assert code == 2 and "no database" in err and err.count("\n") == 1


@pytest.mark.slow
def test_ingest_link_search_end_to_end_on_a_real_clip(tmp_path, vtest_clip):
    db = tmp_path / "e2e.db"

    def cli(*argv):
        return subprocess.run([sys.executable, "-m", "app.cli", "-q", *argv, "--db", str(db)],
                              capture_output=True, text=True, timeout=600)

    ingest = cli("ingest", str(vtest_clip), "--camera", "gate", "--start", "2026-11-27T10:00:00", "--imgsz", "1280",
                 "--no-progress", "--device", "cpu")
    assert ingest.returncode == 0, ingest.stderr
    assert "linked" in ingest.stdout and "identities" in ingest.stdout  # link_after_ingest ran
    link = cli("link")
    assert link.returncode == 0 and "linked" in link.stdout, link.stderr
    listing = cli("identity", "list")
    assert listing.returncode == 0
    ident = int(listing.stdout.splitlines()[1].split()[0])
    show = cli("identity", "show", str(ident))
    track = int(next(line for line in show.stdout.splitlines() if line.strip().startswith("track")).split()[1])
    found = cli("search", "--track", str(track), "-k", "5")
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip().splitlines()[-1].endswith(f"for track {track}")
    rows = found.stdout.splitlines()[1:-1]
    assert all(" gate " in r for r in rows)
    distances = [float(r.split()[1]) for r in rows]
    assert distances == sorted(distances)
