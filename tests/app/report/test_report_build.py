"""The pure step: the report value read from a small store whose every row the test wrote."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.errors import UserError
from app.report import build_report
from app.store import open_database
from devkit.report_store import ENTRANCE_URI, MODEL_TAG, SCRIPT_NAME, T0, build_small_store


@pytest.fixture()
def db(tmp_path):
    thumbs = {tid: f"jpeg-of-track-{tid}".encode() for tid in range(1, 9)}
    database = build_small_store(tmp_path / "small.db", thumbs)
    yield database
    database.close()


def _sightings(report):
    return {i.id: [(x.track_id, x.camera, x.status) for x in i.sightings] for i in report.identities}


def test_identities_sightings_and_statuses(db):
    r = build_report(db, now=T0)
    # ordered by first sighting; the unlinked track 7 is not reported
    assert _sightings(r) == {
        1: [(1, "entrance", "auto"), (2, "entrance", "confirmed"), (3, "lobby", "confirmed")],
        2: [(4, "lobby", "single")],
        3: [(5, "entrance", "auto"), (6, "lobby", "auto")],
        4: [(8, "lobby", "single")],
    }
    alice = r.identities[0]
    assert (alice.label, alice.watch, alice.camera_names) == ("#1 Alice", True, ("entrance", "lobby"))
    assert r.identities[1].name == SCRIPT_NAME and r.identities[2].label == "#3"
    entrance, lobby = alice.cameras
    assert (entrance.first_seen, entrance.last_seen, entrance.n_sightings) == (T0, T0 + timedelta(seconds=30), 2)
    assert (lobby.first_seen, lobby.last_seen) == (T0 + timedelta(seconds=60), T0 + timedelta(seconds=72))
    s = r.summary
    assert (s.n_identities, s.n_sightings, s.cameras) == (4, 7, ("entrance", "lobby"))
    assert (s.first_seen, s.last_seen) == (T0, T0 + timedelta(minutes=30, seconds=8))
    assert dict(s.matches) == {"auto": 2, "confirmed": 1, "rejected": 1}


def test_latest_match_row_per_pair_with_its_review(db):
    r = build_report(db, now=T0)
    alice, script, third, _ = r.identities
    assert [(k.track_a, k.track_b, k.distance, k.kind, k.status, k.reviewed_by) for k in alice.matches] == [
        (2, 3, 0.31, "cross_camera", "confirmed", "op.smith"),  # run 2's row, confirmed by op.smith
        (1, 2, 0.21, "reentry", "auto", None),  # run 2 said 0.21 (run 1 said 0.25); stored as (2, 1)
    ]
    assert alice.matches[0].reviewed_at == T0 + timedelta(hours=1)
    # the rejected match ties two identities: listed in both, with the other identity named
    (rejected,) = script.matches
    assert (rejected.identity_a, rejected.identity_b, rejected.status) == (2, 3, "rejected")
    assert third.matches[-1] == rejected
    # op.jones' confirmation of 5-6 was undone: still automatic, nobody named
    assert (third.matches[0].status, third.matches[0].reviewed_by) == ("auto", None)


def test_provenance(db):
    p = build_report(db, now=T0).provenance
    assert (p.database, p.model_tags, p.threshold) == ("small.db", (MODEL_TAG,), 0.42)
    assert dict(p.threshold_setting) == {"value": 0.42, "calibrated": True}
    assert (p.link_run.id, p.link_run.threshold, dict(p.link_run.stats)) == (2, 0.42, {"identities": 4, "links": 3})
    assert p.generated_at == T0
    assert [(x.camera, x.name) for x in p.sources] == [
        ("entrance", "entrance-2026-11-27.avi"),
        ("lobby", "rtsp://***@10.0.0.5:554/live?token=***"),
    ]


def test_paths_only_on_request_and_urls_always_redacted(db):
    r = build_report(db, include_paths=True)
    names = {x.camera: x.name for x in r.provenance.sources}
    assert names == {"entrance": ENTRANCE_URI, "lobby": "rtsp://***@10.0.0.5:554/live?token=***"}
    assert r.provenance.database == str(db.path)
    assert r.identities[0].sightings[0].source == ENTRANCE_URI


def test_filters(db):
    by_camera = build_report(db, cameras=["lobby"])
    assert _sightings(by_camera) == {1: [(3, "lobby", "confirmed")], 2: [(4, "lobby", "single")],
                                     3: [(6, "lobby", "auto")], 4: [(8, "lobby", "single")]}
    # the window keeps sightings that overlap it: track 3 (10:01:00-10:01:12) ends inside, track 5 starts inside
    window = build_report(db, t_from=T0 + timedelta(seconds=65), t_to=T0 + timedelta(minutes=3, seconds=5))
    assert _sightings(window) == {1: [(3, "lobby", "confirmed")], 2: [(4, "lobby", "single")],
                                  3: [(5, "entrance", "auto")]}
    picked = build_report(db, identities=[3, 1, 3])
    assert [i.id for i in picked.identities] == [1, 3] and picked.filters.identities == (3, 1)
    confirmed = build_report(db, confirmed_only=True)
    assert _sightings(confirmed) == {1: [(2, "entrance", "confirmed"), (3, "lobby", "confirmed")]}
    assert [k.status for k in confirmed.identities[0].matches] == ["confirmed"]
    assert confirmed.filters.describe() == "confirmed matches only"
    empty = build_report(db, cameras=["entrance"], t_from=T0 + timedelta(minutes=20))
    assert empty.identities == () and empty.summary.n_sightings == 0 and empty.summary.first_seen is None


def test_pictures_for_the_first_identities_only(db):
    r = build_report(db, max_pictures=2)
    assert [i.illustrated for i in r.identities] == [True, True, False, False]
    # Alice's best entrance picture is track 1: its best sample's quality (0.9) beats the longer track 2 (0.7)
    assert [(c.camera, c.best_track_id, c.thumbnail) for c in r.identities[0].cameras] == [
        ("entrance", 1, b"jpeg-of-track-1"), ("lobby", 3, b"jpeg-of-track-3")]
    assert all(c.thumbnail is None for i in r.identities[2:] for c in i.cameras)
    assert r.n_illustrated == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cameras": ["lobby", "roof"]}, "unknown camera(s) roof; the store has: entrance, lobby"),
        ({"identities": [1, 99]}, "no identity 99 in the store"),
        ({"t_from": T0, "t_to": T0 - timedelta(seconds=1)}, "ends (2026-11-27 09:59:59 UTC) before it starts"),
        ({"max_pictures": -1}, "must be 0 or more"),
    ],
)
def test_user_errors(db, kwargs, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_report(db, **kwargs)


def test_a_store_without_identities_says_what_to_do(tmp_path):
    db = open_database(tmp_path / "unlinked.db")
    with pytest.raises(UserError, match="run `reidwatch link`"):
        build_report(db)
