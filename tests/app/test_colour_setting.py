"""``[encoder] colour``: the colour stripes are on for a new store, follow what a store was embedded with, and a
store embedded without them keeps comparable embeddings until it is re-embedded (real SQLite files, real
encoder)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from app.config import Config, EncoderConfig, load_config
from app.errors import UserError
from app.ingest.pipeline import model_tag
from app.runtime.components import build_encoder
from app.store import open_database, repo
from app.training.active import colour_on, store_has_colour, with_active_encoder, with_store_colour
from reid_core.colour import ColourEncoder

PLAIN_TAG = "pgfa;backbone=mobilenetv2;source=imagenet;mode=raw;parts=3"
COLOUR_TAG = "pgfa;backbone=mobilenetv2;source=imagenet;mode=raw;parts=5;colour=lab4x8x8"


def store_with(path: Path, tag: str | None):  # type: ignore[no-untyped-def]
    db = open_database(path)
    if tag is None:
        return db
    parts = 5 if "colour=" in tag else 3
    with db.session() as s:
        cam = repo.get_or_create_camera(s, "gate")
        src = repo.create_source(s, camera_id=cam.id, uri=str(path), content_hash=None,
                                 start_time=datetime(2026, 12, 1, tzinfo=timezone.utc), fps=7.0, frame_count=10,
                                 width=320, height=240, settings={})
        tid = repo.create_track(s, source_id=src.id, camera_id=cam.id, local_id=1, frame=0,
                                t=datetime(2026, 12, 1, tzinfo=timezone.utc))
        g = np.ones((1, 8), np.float32) / np.sqrt(8)
        p = np.ones((1, parts, 4), np.float32) / 2
        repo.add_embeddings(s, tid, [0], [1.0], g, p, np.ones((1, parts), bool), tag)
    return db


def test_config_values(tmp_path: Path) -> None:
    assert Config().encoder.colour == "auto"
    assert EncoderConfig(colour=True).colour == "on" and EncoderConfig(colour=False).colour == "off"  # type: ignore[arg-type]
    cfg_file = tmp_path / "reidwatch.toml"
    cfg_file.write_text('[encoder]\ncolour = "off"\n')
    assert load_config(cfg_file).encoder.colour == "off"
    with pytest.raises(UserError, match=r"\[encoder\] colour: expected one of auto, on, off"):
        EncoderConfig(colour="maybe")


@pytest.mark.parametrize(("tag", "expected"), [(None, "on"), (PLAIN_TAG, "off"), (COLOUR_TAG, "on")])
def test_auto_follows_the_store(tmp_path: Path, tag: str | None, expected: str) -> None:
    db = store_with(tmp_path / "store.db", tag)
    try:
        assert store_has_colour(db) is (None if tag is None else "colour=" in tag)
        assert with_active_encoder(Config(), db).encoder.colour == expected
        explicit = replace(Config(), encoder=replace(Config().encoder, colour="off"))
        if tag is not None and "colour=" in tag:  # the user's choice would mix the store: one clear error
            with pytest.raises(UserError, match="embedded with the colour stripes"):
                with_active_encoder(explicit, db)
        else:
            assert with_active_encoder(explicit, db).encoder.colour == "off"
        weights = replace(Config(), encoder=replace(Config().encoder, weights=str(tmp_path / "a.safetensors")))
        assert with_store_colour(weights, db).encoder.colour == ("off" if tag is None else expected)  # as stored
    finally:
        db.close()


def test_a_checkpoint_gets_no_colour_stripes_by_default(tmp_path: Path) -> None:
    """A trained or site-adapted checkpoint learnt to discount a camera's colour cast: "auto" leaves them off in a
    new store (a store with embeddings keeps what it has: the test above)."""
    assert colour_on("auto", weights=None, store_has=None) and not colour_on("auto", weights="a.safetensors",
                                                                            store_has=None)
    assert colour_on("auto", weights="a.safetensors", store_has=True) and not colour_on("auto", weights=None,
                                                                                         store_has=False)
    assert colour_on("on", weights="a.safetensors", store_has=False) and not colour_on("off", weights=None,
                                                                                       store_has=True)
    db = store_with(tmp_path / "store.db", None)
    try:
        adapted = replace(Config(), encoder=replace(Config().encoder, weights=str(tmp_path / "a.safetensors")))
        assert with_store_colour(adapted, db).encoder.colour == "off"
        assert with_store_colour(Config(), db).encoder.colour == "on"
    finally:
        db.close()


def test_the_encoder_and_its_tag(tmp_path: Path) -> None:
    on = build_encoder(replace(Config(), encoder=replace(Config().encoder, colour="on")), "cpu")
    off = build_encoder(replace(Config(), encoder=replace(Config().encoder, colour="off")), "cpu")
    assert isinstance(on, ColourEncoder) and not isinstance(off, ColourEncoder)
    assert model_tag(on).endswith("parts=5;colour=lab4x8x8") and model_tag(off) == PLAIN_TAG
    crop = np.random.default_rng(0).integers(0, 256, (128, 48, 3), dtype=np.uint8)
    e_on, e_off = on.encode([crop], None), off.encode([crop], None)
    assert e_on.dims == (e_off.dims[0], 5, e_off.dims[2]) and e_off.dims[1] == 3
    # what an embedding written with the colour encoder makes of the store: new jobs keep the stripes on
    db = store_with(tmp_path / "c.db", model_tag(on))
    try:
        assert with_active_encoder(Config(), db).encoder.colour == "on"
    finally:
        db.close()


def test_one_encoder_for_auto_and_its_settled_value() -> None:
    """The model cache gives "auto" and the value it settles to one encoder (no second build per job)."""
    from app.runtime.models import ModelCache

    cache = ModelCache()
    on = replace(Config(), device="cpu", encoder=replace(Config().encoder, colour="on"))
    assert cache.get(replace(Config(), device="cpu")).encoder is cache.get(on).encoder
