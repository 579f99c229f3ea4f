"""Match confidence: 1 - the share of known-different pairs at least as close, from what linking stores."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from app.config import Config
from app.identity import confidence as conf
from app.identity.linking import link_store
from app.identity.search import search_by_track
from app.report import build_report, write_report
from app.report.csv_json import csv_rows
from app.store import models as m
from app.store import queries, repo
from devkit.report_store import build_small_store
from devkit.synthetic_store import build_store


def test_confidence_reads_the_share_of_known_different_pairs_this_close() -> None:
    different = np.linspace(0.1, 0.5, 401)  # evenly spread: the share below d is (d - 0.1) / 0.4
    q = conf.quantiles_of(different)
    assert len(q) == conf.N_QUANTILES and q[0] == pytest.approx(0.1) and q[-1] == pytest.approx(0.5)
    assert conf.confidence_from_quantiles(0.05, q) == 1.0  # closer than every pair of different people
    assert conf.confidence_from_quantiles(0.2, q) == pytest.approx(0.75, abs=1e-3)
    assert conf.confidence_from_quantiles(0.3, q) == pytest.approx(0.5, abs=1e-3)
    assert conf.confidence_from_quantiles(0.9, q) == 0.0
    # monotone: a larger distance is never more certain
    ds = np.linspace(0, 0.6, 61)
    values = [conf.confidence_from_quantiles(float(d), q) for d in ds]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    # ties (many pairs at one distance) count as closer at that distance
    assert conf.share_closer(0.2, [0.2, 0.2, 0.2, 0.4, 0.6]) == pytest.approx(0.5)
    assert conf.share_closer(0.1, [0.2, 0.2, 0.2]) == 0.0 and conf.share_closer(0.2, [0.2, 0.2]) == 1.0
    with pytest.raises(ValueError):
        conf.share_closer(0.2, [0.3, 0.1])
    assert [conf.format_confidence(x) for x in (None, 0.0, 0.004, 0.5, 0.874, 0.99, 0.995, 1.0)] == [
        "—", "<1 %", "<1 %", "50 %", "87 %", "99 %", ">99 %", ">99 %"]


def test_stored_calibration_keeps_older_kinds_and_drops_thin_ones(tmp_path) -> None:
    st = build_store(tmp_path / "s.db")
    with st.db.session() as s:
        conf.save_calibration(s, {"pair_min": np.linspace(0.1, 0.5, 50), "visible_mean": np.linspace(0.2, 0.6, 50)},
                              run_id=1)
        value = conf.save_calibration(s, {"pair_mean": np.linspace(0.1, 0.4, 30), "visible_mean": np.ones(3)},
                                      run_id=2)
        assert set(value["kinds"]) == {"pair_min", "pair_mean"}  # visible_mean: 3 pairs are too few now
        cal = conf.load_calibration(s)
    assert cal is not None and cal.pairs == {"pair_min": 50, "pair_mean": 30}
    assert cal.confidence(0.3, "pair_min") == pytest.approx(0.5, abs=0.01)
    assert cal.confidence(0.3, "visible_mean") is None and cal.confidence(-1.0, "pair_min") is None
    with st.db.session() as s:
        repo.put_setting(s, conf.SETTING_KEY, {"version": 99})
        assert conf.load_calibration(s) is None  # a future format: no confidence rather than a wrong one


def test_linking_stores_the_calibration_that_search_and_review_read(tmp_path) -> None:
    st = build_store(tmp_path / "s.db")
    summary = link_store(st.db, Config(db=st.db.path))
    with st.db.session() as s:
        cal = conf.load_calibration(s)
        run = s.get(m.LinkRun, summary.run_id)
        aggregation = run.params["aggregation"]
        n_different = run.stats["calibration"]["n_different"]
    assert cal is not None and cal.run_id == summary.run_id
    # the run's own kind (proposed matches) and descriptor distances (search, decisions), on the same pairs
    assert set(cal.quantiles) == {aggregation, conf.SEARCH_KIND} and aggregation == "pair_min"
    assert cal.pairs == {aggregation: n_different, conf.SEARCH_KIND: n_different}
    # linked matches (same person) are far more certain than known-different pairs typically are
    pending = queries.pending_matches(st.db)
    with st.db.session() as s:
        sure = conf.match_confidences(s, [x.id for x in pending])
    assert pending and all(v is not None and v > 0.9 for v in sure.values())
    # search hits carry a confidence; the same person ranks first and is the most certain
    track = st.tracks_of(0)[0]
    hits = search_by_track(st.db, track, k=5)
    assert hits[0].track_id in st.tracks_of(0) and hits[0].confidence is not None
    assert hits[0].confidence == max(h.confidence for h in hits) > 0.9
    different = [h for h in hits if h.track_id not in st.tracks_of(0)]
    assert different and all(h.confidence < hits[0].confidence for h in different)


def test_report_shows_confidence_in_html_json_and_csv(tmp_path) -> None:
    db = build_small_store(tmp_path / "small.db")
    try:
        with db.session() as s:  # known-different distances evenly spread over 0.05..2.05
            conf.save_calibration(s, {conf.SEARCH_KIND: np.linspace(0.05, 2.05, 101)}, run_id=None)
        report = build_report(db)
        links = {k.match_id: k for i in report.identities for k in i.matches}
        assert {round(k.distance, 2): round(k.confidence, 3) for k in links.values()} == {
            0.21: 0.92, 0.31: 0.87, 0.35: 0.85, 0.4: 0.825}
        data = json.loads(write_report(report, tmp_path / "r.json").read_text(encoding="utf-8"))
        alice = next(i for i in data["identities"] if i["name"] == "Alice")
        assert sorted(m["confidence"] for m in alice["matches"]) == [0.87, 0.92]
        rows = {int(r["track_id"]): r["link_confidence"] for r in csv_rows(report)}
        # a sighting's best link within its identity; none for a lone sighting or a rejected match only
        assert rows == {1: "0.9200", 2: "0.9200", 3: "0.8700", 4: "", 5: "0.8500", 6: "0.8500", 8: ""}
        with (write_report(report, tmp_path / "r.csv")).open(newline="", encoding="utf-8") as fh:
            assert next(csv.DictReader(fh))["link_confidence"] == "0.9200"
        html = write_report(report, tmp_path / "r.html").read_text(encoding="utf-8")
        assert ">Confidence</th>" in html and "92 %" in html and "87 %" in html
    finally:
        db.close()


def test_confidence_leaves_out_the_pairs_an_adapted_encoder_was_trained_apart(tmp_path) -> None:
    """Pairs a site-adapted encoder pushed apart look artificially far to it: counting them would make every
    confidence too high, so the stored calibration leaves them out, as linking's threshold calibration does."""
    from app.identity.link_inputs import _known_different_pairs
    from app.identity.tables import load_track_table
    from app.store import repo

    st = build_store(tmp_path / "s.db")
    first = link_store(st.db, Config(db=st.db.path))
    with st.db.session() as s:
        before = conf.load_calibration(s)
        table = load_track_table(s)
        ia, ib = _known_different_pairs(table, len(table), [])
        trained = [[int(table.ids[a]), int(table.ids[b])] for a, b in zip(ia[::2], ib[::2], strict=True)]
        repo.put_setting(s, "encoder.active", {"trained_pairs": trained})
    assert before is not None and first.run_id == before.run_id and len(trained) >= 10
    link_store(st.db, Config(db=st.db.path))
    with st.db.session() as s:
        after = conf.load_calibration(s)
    assert after is not None
    assert after.pairs[conf.SEARCH_KIND] == before.pairs[conf.SEARCH_KIND] - len(trained)
