"""The HTML report: one self-contained file (pictures embedded as ``data:`` URIs, no scripts, no links out).

Rendered from ``templates/report.html.j2`` by Jinja2 with autoescaping on, so user text (identity names,
camera names) always shows as text. Large reports stay usable: a summary table with anchors to every identity,
collapsed ``<details>`` sections after the first few, and pictures (thumbnails and a timeline) only for the
identities the report value marks as illustrated.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from app.identity.confidence import format_confidence
from app.report.files import write_atomic, write_text
from app.report.model import (
    KIND_LABELS,
    STATUS_LABELS,
    Report,
    format_clock,
    format_duration,
    format_time,
)
from app.report.timeline import DPI, WIDTH_IN, camera_colors, identity_timeline_png, overview_timeline_png

TEMPLATES = Path(__file__).with_name("templates")
OPEN_SECTIONS = 12  # identity sections shown expanded; the rest start collapsed
OVERVIEW_ROWS = 40


def _data_uri(data: bytes | None, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}" if data else ""


def _when(dt: Any) -> str:
    """Date and time without the zone (every report states once that its times are UTC)."""
    return format_time(dt).removesuffix(" UTC")


def _until(end: Any, start: Any) -> str:
    """The end of a span: only the clock when it falls on the start's date."""
    return format_clock(end) if end.date() == start.date() else _when(end)


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if v is None:
        return "none"
    return str(v)


def facts(mapping: Mapping[str, Any] | None, prefix: str = "") -> list[tuple[str, str]]:
    """A stored JSON object as ``(key, value)`` text pairs, nested objects flattened to ``outer.inner``."""
    out: list[tuple[str, str]] = []
    for key, value in (mapping or {}).items():
        if isinstance(value, Mapping):
            out.extend(facts(value, f"{prefix}{key}."))
        else:
            out.append((f"{prefix}{key}", _value(value)))
    return out


def _distance(d: float) -> str:
    """A match distance; linking stores -1 when a decided pair had no embeddings to compare."""
    return f"{d:.3f}" if d >= 0 else "n/a"


@functools.lru_cache(maxsize=1)
def template_env() -> Environment:
    """The Jinja2 environment of the report templates: autoescaping on, undefined names are errors."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined, trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=_when, until=_until, clock=format_clock, duration=format_duration, jpeg=lambda b: _data_uri(b, "image/jpeg"),
        png=lambda b: _data_uri(b, "image/png"), status=lambda s: STATUS_LABELS.get(s, s),
        kind=lambda k: KIND_LABELS.get(k, k), facts=facts, distance=_distance, confidence=format_confidence,
    )
    return env


def pictures(
    report: Report, *, width_in: float = WIDTH_IN, dpi: int = DPI
) -> tuple[bytes | None, dict[int, bytes], Mapping[str, str]]:
    """The overview timeline, the timeline of each illustrated identity, and the camera colours used."""
    colors = camera_colors(report.summary.cameras)
    overview = overview_timeline_png(report, colors, max_rows=OVERVIEW_ROWS, width_in=width_in, dpi=dpi)
    per_identity = {
        i.id: identity_timeline_png(i, colors, width_in=width_in, dpi=dpi) for i in report.identities if i.illustrated
    }
    return overview, per_identity, colors


def context(report: Report, *, picture_width_in: float = WIDTH_IN, picture_dpi: int = DPI) -> dict[str, Any]:
    """What both templates (HTML and PDF) are rendered from."""
    overview, timelines, colors = pictures(report, width_in=picture_width_in, dpi=picture_dpi)
    s = report.summary
    span = (s.last_seen - s.first_seen).total_seconds() if s.first_seen and s.last_seen else 0.0
    return {
        "r": report, "p": report.provenance, "s": s, "overview": overview, "timelines": timelines,
        "colors": colors, "span": span, "overview_rows": min(OVERVIEW_ROWS, len(report.identities)),
        "in_report": {i.id for i in report.identities}, "open_sections": OPEN_SECTIONS,
    }


def render_html(report: Report) -> str:
    """The report as one HTML document (a string)."""
    return template_env().get_template("report.html.j2").render(**context(report))


def write_html(report: Report, path: Path) -> Path:
    """Write the report as one self-contained HTML file, atomically; returns ``path``."""
    text = render_html(report)
    return write_atomic(path, lambda tmp: write_text(tmp, text))
