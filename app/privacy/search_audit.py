"""Audit rows of searches and report exports: what was asked, with which filters, and what came back."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from app.privacy import audit
from app.store import Database
from app.store import models as m


def _when(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


def search_details(hits: Sequence[Any], *, query: dict[str, Any], k: int, cameras: Sequence[str] | None,
                   t_from: datetime | None, t_to: datetime | None, query_identity: int | None) -> dict[str, Any]:
    """The details of a search's audit row; pure."""
    return {
        "query": query,
        "filters": {"k": int(k), "cameras": list(cameras) if cameras else None, "from": _when(t_from),
                    "to": _when(t_to)},
        "n_results": len(hits),
        "results": [int(h.track_id) for h in hits],
        "subjects": audit.subjects(identities=[query_identity] if query_identity is not None else [],
                                   tracks=[query["track"]] if "track" in query else []),
    }


def record_search(db: Database, who: str | None, hits: Sequence[Any], *, track_id: int | None = None,
                  image: np.ndarray | None = None, image_name: str | None = None, k: int = 20,
                  cameras: Sequence[str] | None = None, t_from: datetime | None = None,
                  t_to: datetime | None = None) -> audit.AuditRow:
    """Record one search (by stored track, or by image: its SHA-256 and file name) and its results."""
    query: dict[str, Any]
    ident = None
    if track_id is not None:
        query = {"track": int(track_id)}
        with db.session() as s:
            ident = s.scalar(select(m.Track.identity_id).where(m.Track.id == int(track_id)))
        kind = "track"
    else:
        pixels = np.ascontiguousarray(image) if image is not None else np.zeros(0, np.uint8)
        query = {"image_sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
                 "image": Path(image_name).name if image_name else None}
        kind = "image"
    details = search_details(hits, query=query, k=k, cameras=cameras, t_from=t_from, t_to=t_to,
                             query_identity=ident)
    details["by"] = kind
    return audit.record(db, "search", who, details)


def record_export(db: Database, who: str | None, path: Path, *, identities: Sequence[int] | None,
                  cameras: Sequence[str] | None, t_from: datetime | None, t_to: datetime | None,
                  confirmed_only: bool, reported_identities: Sequence[int] = (),
                  extra: dict[str, Any] | None = None) -> audit.AuditRow:
    """Record one report export: its scope (filters, the identities it holds) and file name."""
    details = {
        "file": Path(path).name, "format": Path(path).suffix.lower().lstrip("."),
        "scope": {"identities": list(identities) if identities else None,
                  "cameras": list(cameras) if cameras else None, "from": _when(t_from), "to": _when(t_to),
                  "confirmed_only": bool(confirmed_only)},
        "n_identities": len(reported_identities),
        "subjects": audit.subjects(identities=reported_identities, cameras=cameras or ()),
        **(extra or {}),
    }
    return audit.record(db, "export", who, details)
