"""``reidwatch report``: options, the result line, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from devkit.report_store import build_small_store


@pytest.fixture()
def db_path(tmp_path):
    path = tmp_path / "small.db"
    build_small_store(path).close()
    return path


def test_json_with_every_filter(db_path, tmp_path, capsys):
    out = tmp_path / "nested" / "r.json"
    code = main(["report", "--db", str(db_path), "--out", str(out), "--identity", "1", "--identity", "3",
                 "--camera", "lobby", "--from", "2026-11-27T10:00:00", "--to", "2026-11-27T11:00:00Z",
                 "--include-paths"])
    assert code == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}: 2 identities, 2 sightings, 1 camera"
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["filters"] == {"identities": [1, 3], "cameras": ["lobby"], "from": "2026-11-27T10:00:00.000Z",
                               "to": "2026-11-27T11:00:00.000Z", "confirmed_only": False, "include_paths": True}
    assert [(i["id"], [x["track_id"] for x in i["sightings"]]) for i in data["identities"]] == [(1, [3]), (3, [6])]
    assert data["provenance"]["database"] == str(db_path)


def test_confirmed_only_csv(db_path, tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert main(["report", "--db", str(db_path), "--out", str(out), "--confirmed-only"]) == 0
    assert capsys.readouterr().out.strip().endswith("1 identity, 2 sightings, 2 cameras")
    assert [line.split(",")[3] for line in out.read_text().splitlines()[1:]] == ["2", "3"]


def test_nothing_in_scope_still_writes_a_report(db_path, tmp_path, capsys):
    out = tmp_path / "empty.html"
    assert main(["report", "--db", str(db_path), "--out", str(out), "--from", "2026-11-28T00:00:00"]) == 0
    assert "(nothing matched the filters)" in capsys.readouterr().out
    assert "No identity has a sighting within this scope." in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "{tmp}/r.txt"], "cannot tell the report format from 'r.txt'"),
        (["--out", "{tmp}/r.csv", "--camera", "roof"], "unknown camera(s) roof"),
        (["--out", "{tmp}/r.csv", "--identity", "42"], "no identity 42 in the store"),
        (["--out", "{tmp}/r.csv", "--from", "noon"], "cannot read --from 'noon'"),
        (["--out", "{tmp}/r.csv", "--from", "2026-11-27T11:00", "--to", "2026-11-27T10:00"],
         "ends (2026-11-27 10:00:00 UTC) before it starts (2026-11-27 11:00:00 UTC)"),
    ],
)
def test_mistakes_are_one_line(db_path, tmp_path, capsys, args, message):
    code = main(["report", "--db", str(db_path), *(a.format(tmp=tmp_path) for a in args)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("reidwatch: error: ") and message in err and err.count("\n") == 1
    assert not list(tmp_path.glob("r.*"))


def test_unwritable_output_and_missing_database(db_path, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["report", "--db", str(db_path), "--out", str(blocker / "r.csv")]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert main(["report", "--db", str(tmp_path / "none.db"), "--out", str(tmp_path / "r.csv")]) == 2
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()
