"""Cross-camera match reports: where and when each identity was seen, the matches behind it, how it was made.

A pure step (:func:`app.report.build.build_report`) reads the store into a :class:`~app.report.model.Report`
value; writers render it as one self-contained HTML file, a paginated PDF (Qt's PDF writer), CSV (one row per
sighting) or JSON (everything). :func:`export_report` does both steps and picks the writer from the file
name's suffix. Writers are entry points of the ``reidwatch.report_writers`` group, named by the suffix they
write (pyproject.toml): ``app`` registers HTML, CSV and JSON, the desktop package registers PDF (Qt lays out and
prints it). They are loaded when used, so exporting CSV never loads matplotlib or Qt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from app.errors import UserError
from app.report.build import DEFAULT_MAX_PICTURES, build_report
from app.report.model import Report
from app.store import Database

log = logging.getLogger(__name__)

WRITER_GROUP = "reidwatch.report_writers"
Writer = Callable[[Report, Path], Path]

__all__ = [
    "DEFAULT_MAX_PICTURES", "WRITER_GROUP", "Report", "blur_by_default", "build_report", "export_report",
    "record_export", "report_writers", "write_report", "writer_for",
]


def report_writers() -> dict[str, EntryPoint]:
    """Installed report writers: file suffix (".html") -> entry point of a ``writer(report, path) -> Path``."""
    return {f".{ep.name.lower()}": ep for ep in entry_points(group=WRITER_GROUP)}


def writer_for(path: str | Path) -> EntryPoint:
    """The writer entry point for ``path``'s suffix; UserError for a suffix no installed writer knows."""
    path = Path(path)
    writers = report_writers()
    try:
        return writers[path.suffix.lower()]
    except KeyError:
        known = ", ".join(sorted(writers)) or "none (reidwatch's entry points are not installed: pip install -e .)"
        raise UserError(
            f"cannot tell the report format from {path.name!r}: the file name must end in one of {known}"
        ) from None


def write_report(report: Report, out_path: str | Path) -> Path:
    """Render ``report`` in the format that ``out_path``'s suffix names; returns the path written."""
    path = Path(out_path).expanduser()
    writer: Writer = writer_for(path).load()
    written: Path = writer(report, path)
    log.info("report written to %s", written)
    return written


def export_report(
    db: Database,
    out_path: str | Path,
    *,
    identities: Sequence[int] | None = None,
    cameras: Sequence[str] | None = None,
    t_from: datetime | None = None,
    t_to: datetime | None = None,
    confirmed_only: bool = False,
    include_paths: bool = False,
    max_pictures: int = DEFAULT_MAX_PICTURES,
    who: str | None = None,
    blur_bystanders: bool | None = None,
    include_audit: bool = False,
) -> Path:
    """Build a report from ``db`` and write it to ``out_path`` (.html, .pdf, .csv or .json).

    Privacy: the export is recorded in the audit trail (``who``: the operator, default the OS user) with its
    scope and file name; the file is readable by its owner only; ``blur_bystanders`` (default: on for HTML and
    PDF, the formats with pictures) blurs the heads of people other than the report's subjects;
    ``include_audit`` adds the audit rows about the report's subjects.

    ``identities`` / ``cameras`` / ``t_from``-``t_to`` narrow what is reported (None: everything);
    ``confirmed_only`` keeps only operator-confirmed matches and the sightings they tie; absolute paths of
    source videos and of the database appear only with ``include_paths``; pictures are embedded for the first
    ``max_pictures`` identities. Raises UserError for a bad suffix, filter or unwritable path; the file is
    written whole or not at all.

    Safe to call from a worker thread (it opens its own session). For PDF, when no Qt application exists yet
    one is made, which must happen on the main thread; inside the desktop UI the UI's application is used.
    """
    path = Path(out_path).expanduser()
    writer_for(path)  # a bad suffix fails before any work is done
    if blur_bystanders is None:
        blur_bystanders = blur_by_default(path)
    report = build_report(
        db, identities=identities, cameras=cameras, t_from=t_from, t_to=t_to, confirmed_only=confirmed_only,
        include_paths=include_paths, max_pictures=max_pictures, blur_bystanders=blur_bystanders,
        include_audit=include_audit,
    )
    written = write_report(report, path)
    record_export(db, report, written, who=who, blur_bystanders=blur_bystanders, include_audit=include_audit)
    return written


def blur_by_default(path: str | Path) -> bool:
    """Whether bystanders are blurred unless asked otherwise: yes for the formats with pictures (HTML, PDF)."""
    return Path(path).suffix.lower() in (".html", ".htm", ".pdf")


def record_export(db: Database, report: Report, path: Path, *, who: str | None, blur_bystanders: bool,
                  include_audit: bool) -> None:
    """The export's audit row: its scope (the report's filters and identities) and file name."""
    from app.privacy.search_audit import record_export as _record

    f = report.filters
    _record(db, who, path, identities=f.identities, cameras=f.cameras, t_from=f.t_from, t_to=f.t_to,
            confirmed_only=f.confirmed_only, reported_identities=[i.id for i in report.identities],
            extra={"blurred": bool(blur_bystanders), "with_audit": bool(include_audit)})
