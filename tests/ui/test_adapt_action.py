"""The desktop's "Adapt to this site" action on a real store: trains, applies, shows before/after, refreshes."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from sqlalchemy import select

from app.cli import main
from app.config import Config
from app.privacy.audit import list_rows
from app.store import models as m
from app.store import open_database
from app.training.adapt import AdaptOptions
from ui.app import build_window
from ui.controllers.adapt import summary_text


def test_summary_names_the_separation_before_and_after() -> None:
    card = {"separation_before": {"same_median": 0.10, "different_median": 0.15, "auc": 0.80},
            "separation_after": {"same_median": 0.20, "different_median": 0.70, "auc": 0.97}}
    text = summary_text(card, "adapted on 12 tracks")
    assert text.splitlines()[0] == "adapted on 12 tracks"
    assert "gap 0.05 before, 0.50 after" in text and "AUC 0.80 before, 0.97 after" in text
    assert summary_text({}, "nothing measured") == "nothing measured"


@pytest.mark.slow
def test_adapt_action_trains_applies_and_refreshes_the_gallery(qtbot, tmp_path: Path, vtest_clip: Path) -> None:
    db_path = tmp_path / "site.db"
    assert main(["-q", "ingest", str(vtest_clip), "--camera", "gate", "--start", "2026-11-27T10:00:00",
                 "--imgsz", "960", "--no-progress", "--db", str(db_path)]) == 0
    db = open_database(db_path, create=False)
    qs = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    window, ctl = build_window(db=db, config=Config(db=db_path, device="cpu"), qsettings=qs, start_ingest=False)
    qtbot.addWidget(window)
    window.show()
    ctl.adapter.options = lambda: AdaptOptions(epochs=4, per_track=8, views=2)
    messages: list[str] = []
    ctl.adapter.progress.connect(messages.append)
    try:
        with qtbot.waitSignal(ctl.adapter.finished, timeout=600_000) as done:
            window.adapt_action.trigger()
            assert not ctl.adapter.start()  # one run at a time
        ok, summary = done.args
        assert ok, summary
        assert "re-embedded" in summary and "before" in summary and "after" in summary
        assert any("adapting to this site" in x for x in messages)
        assert ctl.adapt_box is not None and ctl.adapt_box.text() == summary
        with db.session() as s:
            tags = set(s.scalars(select(m.Embedding.model_tag)))
        assert len(tags) == 1 and "weights=adapted-" in next(iter(tags))  # every track re-embedded
        assert [r.action for r in list_rows(db, action="adapt")] == ["adapt"]  # audited once
        qtbot.waitUntil(lambda: ctl.gallery.model.rowCount() > 0, timeout=30_000)  # refreshed after relinking
    finally:
        ctl.shutdown()
        db.close()
