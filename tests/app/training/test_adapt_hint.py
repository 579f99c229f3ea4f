"""After an ingest, a store with cameras the encoder never learnt says what to run (a real SQLite file)."""

from __future__ import annotations

import json
from pathlib import Path

from app.store import open_database, repo
from app.training.active import adapt_hint, set_active_encoder


def test_the_hint_follows_the_cameras_the_encoder_learnt(tmp_path: Path) -> None:
    db = open_database(tmp_path / "s.db")
    with db.session() as s:
        a = repo.get_or_create_camera(s, "entrance", kind="file")
    assert adapt_hint(db) is None  # one camera: nothing to link across
    with db.session() as s:
        b = repo.get_or_create_camera(s, "platform", kind="file")
    hint = adapt_hint(db)
    assert hint is not None and "2 cameras" in hint and "`reidwatch adapt`" in hint
    ckpt, card = tmp_path / "adapted.safetensors", tmp_path / "adapted.json"
    ckpt.write_bytes(b"x")
    card.write_text(json.dumps({"cameras": [a.id, b.id]}))
    set_active_encoder(db, ckpt, tag="adapted", card=card)
    assert adapt_hint(db) is None  # learnt both
    with db.session() as s:
        repo.get_or_create_camera(s, "gate", kind="rtsp")
    hint = adapt_hint(db)
    assert hint is not None and "camera gate joined" in hint and "learn it" in hint
    with db.session() as s:
        repo.get_or_create_camera(s, "dock {2}", kind="file")  # names are the user's: braces and all
    hint = adapt_hint(db)
    assert hint is not None and "cameras dock {2}, gate joined" in hint and "learn them" in hint
    set_active_encoder(db, ckpt, tag="trained elsewhere")  # no card: nothing known to say
    assert adapt_hint(db) is None
    db.close()
