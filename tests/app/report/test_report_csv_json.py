"""Golden tests: the CSV and JSON a tool reads from the small store, row by row, key by key."""

from __future__ import annotations

import csv
import json

import pytest

from app.report import build_report, export_report, write_report
from app.report.csv_json import CSV_COLUMNS, csv_rows
from devkit.report_store import SCRIPT_NAME, T0, build_small_store

LOBBY = "rtsp://***@10.0.0.5:554/live?token=***"
ENTRANCE = "entrance-2026-11-27.avi"

GOLDEN_CSV = (
    "identity_id,identity_name,camera,track_id,start,end,duration_s,n_observations,status,source,first_frame,"
    "last_frame,link_confidence\r\n"
    f"1,Alice,entrance,1,2026-11-27T10:00:00.000Z,2026-11-27T10:00:05.000Z,5.000,51,auto,{ENTRANCE},0,50,\r\n"
    f"1,Alice,entrance,2,2026-11-27T10:00:20.000Z,2026-11-27T10:00:30.000Z,10.000,101,confirmed,{ENTRANCE},"
    "200,300,\r\n"
    f"1,Alice,lobby,3,2026-11-27T10:01:00.000Z,2026-11-27T10:01:12.000Z,12.000,121,confirmed,{LOBBY},600,720,\r\n"
    '2,"<script>alert(""x"")</script>",lobby,4,2026-11-27T10:02:00.000Z,2026-11-27T10:02:04.000Z,4.000,41,'
    f"single,{LOBBY},1200,1240,\r\n"
    f"3,,entrance,5,2026-11-27T10:03:00.000Z,2026-11-27T10:03:10.000Z,10.000,101,auto,{ENTRANCE},1800,1900,\r\n"
    f"3,,lobby,6,2026-11-27T10:03:30.000Z,2026-11-27T10:03:40.000Z,10.000,101,auto,{LOBBY},2100,2200,\r\n"
    f"4,Bob,lobby,8,2026-11-27T10:30:00.000Z,2026-11-27T10:30:08.000Z,8.000,81,single,{LOBBY},18000,18080,\r\n"
)


@pytest.fixture()
def db(tmp_path):
    database = build_small_store(tmp_path / "small.db")
    yield database
    database.close()


def _match(mid, a, b, cam_a, cam_b, start_a, start_b, ident_a, ident_b, dist, kind, status, who=None, at=None):
    return {"match_id": mid, "track_a": a, "track_b": b, "camera_a": cam_a, "camera_b": cam_b,
            "start_a": start_a, "start_b": start_b, "identity_a": ident_a, "identity_b": ident_b, "distance": dist,
            "confidence": None, "kind": kind, "status": status, "reviewed_by": who, "reviewed_at": at}


def _sighting(tid, cam, src, start, end, dur, f0, f1, status):
    return {"track_id": tid, "camera": cam, "source": src, "start": f"2026-11-27T{start}.000Z",
            "end": f"2026-11-27T{end}.000Z", "duration_s": dur, "first_frame": f0, "last_frame": f1,
            "n_observations": f1 - f0 + 1, "status": status}


def _camera(cam, first, last, n, best):
    return {"camera": cam, "first_seen": f"2026-11-27T{first}.000Z", "last_seen": f"2026-11-27T{last}.000Z",
            "sightings": n, "best_track_id": best}


REJECTED = _match(6, 4, 5, "lobby", "entrance", "2026-11-27T10:02:00.000Z", "2026-11-27T10:03:00.000Z", 2, 3, 0.4,
                  "cross_camera", "rejected", "op.smith", "2026-11-27T11:05:00.000Z")
GOLDEN_IDENTITIES = [
    {"id": 1, "name": "Alice", "watch": True, "first_seen": "2026-11-27T10:00:00.000Z",
     "last_seen": "2026-11-27T10:01:12.000Z",
     "cameras": [_camera("entrance", "10:00:00", "10:00:30", 2, 2), _camera("lobby", "10:01:00", "10:01:12", 1, 3)],
     "sightings": [_sighting(1, "entrance", ENTRANCE, "10:00:00", "10:00:05", 5.0, 0, 50, "auto"),
                   _sighting(2, "entrance", ENTRANCE, "10:00:20", "10:00:30", 10.0, 200, 300, "confirmed"),
                   _sighting(3, "lobby", LOBBY, "10:01:00", "10:01:12", 12.0, 600, 720, "confirmed")],
     "matches": [_match(4, 2, 3, "entrance", "lobby", "2026-11-27T10:00:20.000Z", "2026-11-27T10:01:00.000Z", 1, 1,
                        0.31, "cross_camera", "confirmed", "op.smith", "2026-11-27T11:00:00.000Z"),
                 _match(3, 1, 2, "entrance", "entrance", "2026-11-27T10:00:00.000Z", "2026-11-27T10:00:20.000Z", 1,
                        1, 0.21, "reentry", "auto")]},
    {"id": 2, "name": SCRIPT_NAME, "watch": False, "first_seen": "2026-11-27T10:02:00.000Z",
     "last_seen": "2026-11-27T10:02:04.000Z", "cameras": [_camera("lobby", "10:02:00", "10:02:04", 1, 4)],
     "sightings": [_sighting(4, "lobby", LOBBY, "10:02:00", "10:02:04", 4.0, 1200, 1240, "single")],
     "matches": [REJECTED]},
    {"id": 3, "name": None, "watch": False, "first_seen": "2026-11-27T10:03:00.000Z",
     "last_seen": "2026-11-27T10:03:40.000Z",
     "cameras": [_camera("entrance", "10:03:00", "10:03:10", 1, 5), _camera("lobby", "10:03:30", "10:03:40", 1, 6)],
     "sightings": [_sighting(5, "entrance", ENTRANCE, "10:03:00", "10:03:10", 10.0, 1800, 1900, "auto"),
                   _sighting(6, "lobby", LOBBY, "10:03:30", "10:03:40", 10.0, 2100, 2200, "auto")],
     "matches": [_match(5, 5, 6, "entrance", "lobby", "2026-11-27T10:03:00.000Z", "2026-11-27T10:03:30.000Z", 3, 3,
                        0.35, "cross_camera", "auto"), REJECTED]},
    {"id": 4, "name": "Bob", "watch": False, "first_seen": "2026-11-27T10:30:00.000Z",
     "last_seen": "2026-11-27T10:30:08.000Z", "cameras": [_camera("lobby", "10:30:00", "10:30:08", 1, 8)],
     "sightings": [_sighting(8, "lobby", LOBBY, "10:30:00", "10:30:08", 8.0, 18000, 18080, "single")],
     "matches": []},
]


def test_csv_golden(db, tmp_path):
    out = export_report(db, tmp_path / "out" / "report.csv")
    assert out == tmp_path / "out" / "report.csv"
    assert out.read_bytes().decode("utf-8") == GOLDEN_CSV
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[3]["identity_name"] == SCRIPT_NAME  # quotes survive a CSV reader round trip


def test_json_golden(db, tmp_path):
    out = write_report(build_report(db, now=T0), tmp_path / "report.json")
    data = json.loads(out.read_text(encoding="utf-8"))
    assert (data["format"], data["format_version"]) == ("reidwatch-report", 1)
    assert data["identities"] == GOLDEN_IDENTITIES
    assert data["summary"] == {"identities": 4, "sightings": 7, "cameras": ["entrance", "lobby"],
                               "first_seen": "2026-11-27T10:00:00.000Z", "last_seen": "2026-11-27T10:30:08.000Z",
                               "matches": {"auto": 2, "confirmed": 1, "rejected": 1}}
    assert data["filters"] == {"identities": None, "cameras": None, "from": None, "to": None,
                               "confirmed_only": False, "include_paths": False}
    p = data["provenance"]
    assert p["generated_at"] == "2026-11-27T10:00:00.000Z" and p["database"] == "small.db"
    assert p["model_tags"] == ["pgfa;backbone=mobilenetv2;source=imagenet;parts=3"]
    assert (p["threshold"], p["threshold_setting"]) == (0.42, {"value": 0.42, "calibrated": True})
    assert p["link_run"] == {"id": 2, "at": "2026-11-27T11:10:00.000Z", "threshold": 0.42,
                             "params": {"max_speed_px_s": 400.0}, "stats": {"identities": 4, "links": 3}}
    assert p["sources"] == [
        {"id": 1, "camera": "entrance", "name": ENTRANCE, "start_time": "2026-11-27T10:00:00.000Z", "fps": 10.0,
         "frame_count": 3000, "status": "complete"},
        {"id": 2, "camera": "lobby", "name": LOBBY, "start_time": "2026-11-27T10:00:00.000Z", "fps": 10.0,
         "frame_count": 18100, "status": "complete"},
    ]


def test_no_credentials_or_paths_in_machine_formats(db, tmp_path):
    for suffix in (".csv", ".json"):
        text = export_report(db, tmp_path / f"r{suffix}").read_text(encoding="utf-8")
        for secret in ("hunter2", "admin", "abc123", "/home/operator"):
            assert secret not in text, (suffix, secret)
    with_paths = export_report(db, tmp_path / "p.csv", include_paths=True).read_text(encoding="utf-8")
    assert "/home/operator/videos/entrance-2026-11-27.avi" in with_paths and "hunter2" not in with_paths


def test_spreadsheet_formulas_are_neutralised(db):
    from dataclasses import replace

    r = build_report(db, identities=[4])
    evil = replace(r, identities=(replace(r.identities[0], name="=HYPERLINK(\"http://x\")"),))
    (row,) = csv_rows(evil)
    assert row["identity_name"] == "'=HYPERLINK(\"http://x\")"


def test_filtered_csv_keeps_only_the_asked_rows(db, tmp_path):
    text = export_report(db, tmp_path / "c.csv", confirmed_only=True).read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[1:] == [GOLDEN_CSV.split("\r\n")[2], GOLDEN_CSV.split("\r\n")[3]]
