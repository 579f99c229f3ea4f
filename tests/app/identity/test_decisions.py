"""Operators' decisions: stored with who/when, applied at once, respected by every later linking run, undoable."""

from __future__ import annotations

import pytest

from app.config import Config
from app.errors import UserError
from app.identity import decisions
from app.identity.linking import link_store
from app.store import queries
from devkit.synthetic_store import build_store, identity_groups


@pytest.fixture
def linked(tmp_path):
    st = build_store(tmp_path / "s.db")
    link_store(st.db, Config(db=st.db.path))
    return st


def _relink(st):
    link_store(st.db, Config(db=st.db.path))
    return identity_groups(st.db, list(st.truth))


def test_confirm_joins_two_people_now_and_in_later_runs(linked):
    st = linked
    a, b = st.tracks_of(0)[0], st.tracks_of(1)[-1]
    d = decisions.confirm_match(st.db, a, b, who="ann")
    assert d.kind == "confirm" and d.who == "ann" and d.at.tzinfo is not None
    groups = identity_groups(st.db, list(st.truth))
    assert groups[a] == groups[b] == d.identity_id
    groups = _relink(st)
    assert groups[a] == groups[b]
    matches = {(x.track_a, x.track_b): x for x in queries.matches_for_identity(st.db, groups[a])}
    assert matches[(a, b)].status == "confirmed"
    assert all(x.status == "auto" for x in queries.pending_matches(st.db))


def test_reject_separates_now_and_in_later_runs(linked):
    st = linked
    a, b = st.tracks_of(2)[0], st.tracks_of(2)[1]
    d = decisions.reject_match(st.db, a, b)
    assert d.who == decisions.default_who()
    groups = identity_groups(st.db, list(st.truth))
    assert groups[a] != groups[b] and groups[b] == d.identity_id
    groups = _relink(st)
    assert groups[a] != groups[b]
    others = st.tracks_of(2)[2:]
    assert all(groups[t] in (groups[a], groups[b]) for t in others)  # the rest still follow one of them


def test_merge_and_split_persist_across_runs(linked):
    st = linked
    groups = identity_groups(st.db, list(st.truth))
    i0, i1 = groups[st.tracks_of(0)[0]], groups[st.tracks_of(1)[0]]
    decisions.rename_identity(st.db, i1, "Bob")
    d = decisions.merge_identities(st.db, [i0, i1], who="ann")
    assert d.identity_id == i0 and queries.identity(st.db, i1) is None
    assert queries.identity(st.db, i0).name == "Bob"  # the name of the merged identity carried over
    groups = _relink(st)
    assert len({groups[t] for t in st.tracks_of(0) + st.tracks_of(1)}) == 1
    moved = st.tracks_of(3)[1]
    split = decisions.split_identity(st.db, groups[moved], moved)
    assert identity_groups(st.db, [moved])[moved] == split.identity_id
    groups = _relink(st)
    assert all(groups[moved] != groups[t] for t in st.tracks_of(3) if t != moved)
    assert [h.name for h in queries.list_identities(st.db) if h.name] == ["Bob"]


def test_rename_and_watch_survive_relinking(linked):
    st = linked
    ident = identity_groups(st.db, list(st.truth))[st.tracks_of(4)[0]]
    decisions.rename_identity(st.db, ident, "  Carol   Smith ")
    decisions.set_watch(st.db, ident, True)
    _relink(st)
    info = queries.identity(st.db, ident)
    assert info.name == "Carol Smith" and info.watch and info.n_tracks == 4
    decisions.rename_identity(st.db, ident, "")
    assert queries.identity(st.db, ident).name is None


def test_undo_restores_the_identities_and_later_runs_forget_the_decision(linked):
    st = linked
    before = identity_groups(st.db, list(st.truth))
    a, b = st.tracks_of(0)[0], st.tracks_of(1)[0]
    first = decisions.confirm_match(st.db, a, b)
    undone = decisions.undo_last(st.db, who="bob")
    assert undone.id == first.id and undone.kind == "confirm"
    assert identity_groups(st.db, list(st.truth)) == before
    assert _relink(st) == before
    i0 = before[a]
    decisions.split_identity(st.db, i0, st.tracks_of(0)[1])
    decisions.undo_last(st.db)
    assert identity_groups(st.db, list(st.truth)) == before
    assert decisions.undo_last(st.db) is None  # nothing left in force
    kinds = [d.kind for d in decisions.list_decisions(st.db)]
    assert kinds == ["undo", "split", "undo", "confirm"]


def test_bad_ids_are_user_errors(linked):
    st = linked
    t = st.tracks_of(0)
    with pytest.raises(UserError, match="no track 999"):
        decisions.confirm_match(st.db, t[0], 999)
    with pytest.raises(UserError, match="twice"):
        decisions.reject_match(st.db, t[0], t[0])
    with pytest.raises(UserError, match="no identity 999"):
        decisions.rename_identity(st.db, 999, "x")
    with pytest.raises(UserError, match="at least two"):
        decisions.merge_identities(st.db, [1, 1])
    ident = identity_groups(st.db, [t[0]])[t[0]]
    other = st.tracks_of(1)[0]
    with pytest.raises(UserError, match="does not belong"):
        decisions.split_identity(st.db, ident, other)
    assert decisions.list_decisions(st.db) == []  # nothing stored by failed decisions
