"""A report's provenance: what made it (version, encoder tags, the linking run and threshold in force)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import __version__
from app.report.model import LinkRunRow, Provenance, ReportFilters, SourceRow
from app.store import Database
from app.store import models as m
from app.store.records import as_utc

_CHUNK = 900  # ids per IN (...) list, well under SQLite's variable limit


def provenance(
    s: Session, db: Database, f: ReportFilters, now: datetime, track_ids: list[int], sources: tuple[SourceRow, ...]
) -> Provenance:
    """How the report was made: reidwatch version, store, encoder tags of its tracks, the latest linking run and
    the threshold in force."""
    tags: set[str] = set()
    for lo in range(0, len(track_ids), _CHUNK):
        chunk = track_ids[lo:lo + _CHUNK]
        tags.update(s.scalars(select(m.Embedding.model_tag).where(m.Embedding.track_id.in_(chunk)).distinct()))
    run = s.execute(
        select(m.LinkRun.id, m.LinkRun.at, m.LinkRun.threshold, m.LinkRun.params, m.LinkRun.stats)
        .order_by(m.LinkRun.id.desc()).limit(1)
    ).first()
    link_run = None
    if run is not None:
        link_run = LinkRunRow(id=run.id, at=as_utc(run.at), threshold=float(run.threshold),
                              params=run.params or {}, stats=run.stats or {})
    setting_row = s.get(m.Setting, "link.threshold")
    setting = setting_row.value if setting_row is not None else None
    threshold = link_run.threshold if link_run is not None else _threshold_from_setting(setting)
    return Provenance(
        reidwatch_version=__version__, generated_at=now.astimezone(timezone.utc),
        database=db.label if f.include_paths else db.path.name, model_tags=tuple(sorted(tags)),
        threshold=threshold, threshold_setting=setting if isinstance(setting, dict) else None, link_run=link_run,
        sources=sources,
    )


def _threshold_from_setting(value: object) -> float | None:
    """The setting is a JSON object; its number lives under ``value`` or ``threshold``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict):
        for key in ("value", "threshold"):
            v = value.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return float(v)
    return None
