"""Reports for other tools: CSV (one row per sighting) and JSON (the whole report).

Times are ISO 8601 UTC with milliseconds (``2026-11-27T10:00:03.500Z``), durations in seconds; a match
distance the store could not compute (stored as -1) is ``null``. The JSON keeps
no pictures: each camera names its best track (``best_track_id``), whose thumbnail the store holds.
CSV cells that a spreadsheet would run as a formula (user text starting with ``=``, ``+``, ``-``, ``@``, tab or
carriage return) are prefixed with ``'``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from app.report.files import write_atomic, write_text
from app.report.model import IdentityReport, MatchLink, Report, Sighting, iso_time

CSV_COLUMNS = (
    "identity_id", "identity_name", "camera", "track_id", "start", "end", "duration_s", "n_observations",
    "status", "source", "first_frame", "last_frame", "link_confidence",
)
JSON_FORMAT = "reidwatch-report"
JSON_VERSION = 1
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str | None) -> str:
    """User text made safe for spreadsheets (no formula injection)."""
    if not text:
        return ""
    return "'" + text if text.startswith(_FORMULA_START) else text


def link_confidence(ident: IdentityReport, track_id: int) -> float | None:
    """How sure the sighting's place in its identity is: the highest confidence of its matches (not rejected)
    to another sighting of the same identity; None for a lone sighting or without a calibration."""
    sure = [k.confidence for k in ident.matches
            if k.status != "rejected" and k.confidence is not None and track_id in (k.track_a, k.track_b)
            and k.identity_a == k.identity_b == ident.id]
    return max(sure) if sure else None


def csv_rows(report: Report) -> list[dict[str, str]]:
    """One row per sighting, identities in report order, sightings by start time. Values are strings;
    ``link_confidence`` (0..1, see :func:`link_confidence`) is empty where there is none."""
    rows = []
    for ident in report.identities:
        for x in ident.sightings:
            sure = link_confidence(ident, x.track_id)
            rows.append({
                "identity_id": str(ident.id), "identity_name": _cell(ident.name), "camera": _cell(x.camera),
                "track_id": str(x.track_id), "start": iso_time(x.start) or "", "end": iso_time(x.end) or "",
                "duration_s": f"{x.duration_s:.3f}", "n_observations": str(x.n_obs), "status": x.status,
                "source": _cell(x.source), "first_frame": str(x.first_frame), "last_frame": str(x.last_frame),
                "link_confidence": "" if sure is None else f"{sure:.4f}",
            })
    return rows


def write_csv(report: Report, path: Path) -> Path:
    """UTF-8 CSV with a header row and ``\\r\\n`` line ends (RFC 4180)."""

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(csv_rows(report))

    return write_atomic(path, write)


def _sighting(x: Sighting) -> dict[str, Any]:
    return {
        "track_id": x.track_id, "camera": x.camera, "source": x.source, "start": iso_time(x.start),
        "end": iso_time(x.end), "duration_s": round(x.duration_s, 3), "first_frame": x.first_frame,
        "last_frame": x.last_frame, "n_observations": x.n_obs, "status": x.status,
    }


def _match(k: MatchLink) -> dict[str, Any]:
    return {
        "match_id": k.match_id, "track_a": k.track_a, "track_b": k.track_b, "camera_a": k.camera_a,
        "camera_b": k.camera_b, "start_a": iso_time(k.start_a), "start_b": iso_time(k.start_b),
        "identity_a": k.identity_a, "identity_b": k.identity_b,
        "distance": round(k.distance, 6) if k.distance >= 0 else None,
        "confidence": None if k.confidence is None else round(k.confidence, 4), "kind": k.kind, "status": k.status, "reviewed_by": k.reviewed_by,
        "reviewed_at": iso_time(k.reviewed_at),
    }


def _identity(i: IdentityReport) -> dict[str, Any]:
    return {
        "id": i.id, "name": i.name, "watch": i.watch, "first_seen": iso_time(i.first_seen),
        "last_seen": iso_time(i.last_seen),
        "cameras": [
            {"camera": c.camera, "first_seen": iso_time(c.first_seen), "last_seen": iso_time(c.last_seen),
             "sightings": c.n_sightings, "best_track_id": c.best_track_id}
            for c in i.cameras
        ],
        "sightings": [_sighting(x) for x in i.sightings],
        "matches": [_match(k) for k in i.matches],
    }


def report_to_dict(report: Report) -> dict[str, Any]:
    """The report as plain JSON-ready values (see the module docstring for the conventions)."""
    p, f, s = report.provenance, report.filters, report.summary
    run = p.link_run
    return {
        "format": JSON_FORMAT,
        "format_version": JSON_VERSION,
        "provenance": {
            "reidwatch_version": p.reidwatch_version, "generated_at": iso_time(p.generated_at),
            "database": p.database, "model_tags": list(p.model_tags), "threshold": p.threshold,
            "threshold_setting": dict(p.threshold_setting) if p.threshold_setting is not None else None,
            "link_run": None if run is None else {
                "id": run.id, "at": iso_time(run.at), "threshold": run.threshold, "params": dict(run.params),
                "stats": dict(run.stats),
            },
            "sources": [
                {"id": r.id, "camera": r.camera, "name": r.name, "start_time": iso_time(r.start_time), "fps": r.fps,
                 "frame_count": r.frame_count, "status": r.status}
                for r in p.sources
            ],
        },
        "filters": {
            "identities": list(f.identities) if f.identities is not None else None,
            "cameras": list(f.cameras) if f.cameras is not None else None,
            "from": iso_time(f.t_from), "to": iso_time(f.t_to), "confirmed_only": f.confirmed_only,
            "include_paths": f.include_paths,
        },
        "summary": {
            "identities": s.n_identities, "sightings": s.n_sightings, "cameras": list(s.cameras),
            "first_seen": iso_time(s.first_seen), "last_seen": iso_time(s.last_seen), "matches": dict(s.matches),
        },
        "identities": [_identity(i) for i in report.identities],
        "privacy_note": report.privacy_note,
        "audit": None if report.audit is None else [
            {"id": a.id, "at": iso_time(a.at), "who": a.who, "action": a.action, "details": a.text}
            for a in report.audit
        ],
    }


def write_json(report: Report, path: Path) -> Path:
    """UTF-8 JSON, indented, non-ASCII kept as is."""
    text = json.dumps(report_to_dict(report), indent=2, ensure_ascii=False) + "\n"
    return write_atomic(path, lambda tmp: write_text(tmp, text))
