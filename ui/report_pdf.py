"""The PDF report: the same content as the HTML report, paginated on A4 by Qt's own PDF writer.

``templates/report_pdf.html.j2`` is rendered (autoescaped) into the HTML subset that ``QTextDocument`` lays
out; the document is paginated at the A4 text area's size and each page is painted onto a ``QPdfWriter`` with
a footer (report, generation time, ``page i of n``). Painting the pages here rather than with
``QTextDocument.print_`` (which copies and lays the document out again) takes about 40% less time on a
report of 1,000 identities.

Qt needs an application object. When none exists (the CLI), a ``QApplication`` is made on the offscreen
platform unless ``QT_QPA_PLATFORM`` says otherwise: a widgets application, so that a later UI in the same
process still works. It must then be the main thread that calls :func:`write_pdf` first. The clash between
opencv-python's Qt plugins and PySide6's is settled when the ``ui`` package is imported
(:func:`ui.prepare_qt_environment`).
"""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path
from typing import Any

from app import __version__
from app.errors import UserError
from app.report.files import write_atomic
from app.report.html import context, template_env
from app.report.model import Report

log = logging.getLogger(__name__)

# The document is laid out in pixels of 96 per inch (the writer's resolution is set to match), so that
# picture sizes and point sizes mean the same as on screen. A4 less the margins is 174 x 253 mm = 657 x 956 px.
RESOLUTION = 96
MARGINS_MM = (18.0, 16.0, 18.0, 14.0)  # left, top, right, bottom
FOOTER_PX = 26  # the bottom of the text area holds the footer line
TEXT_WIDTH_PX = 640
PICTURE_WIDTH_IN = 6.7  # ~ the text column, so that the timelines' 8-point text prints at 8 points
PICTURE_DPI = 150
_QT_APP: Any = None  # the application this module made, kept alive for the life of the process


def _png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG image")
    return struct.unpack(">II", png[16:24])


def _fit(png: bytes | None, width: int = TEXT_WIDTH_PX) -> tuple[int, int]:
    """The picture's size in the PDF: the text column's width, keeping its aspect ratio."""
    if not png:
        return (0, 0)
    w, h = _png_size(png)
    return width, max(1, round(h * width / w))


def render_pdf_html(report: Report) -> str:
    """The report in the rich-text HTML that QTextDocument lays out."""
    ctx = context(report, picture_width_in=PICTURE_WIDTH_IN, picture_dpi=PICTURE_DPI)
    ctx["overview_size"] = _fit(ctx["overview"])
    ctx["timeline_sizes"] = {i: _fit(png) for i, png in ctx["timelines"].items()}
    return template_env().get_template("report_pdf.html.j2").render(**ctx)


def qt_application() -> Any:
    """The running Qt application, or a new offscreen ``QApplication`` (see the module docstring)."""
    global _QT_APP
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is not None:
        return app
    argv = ["reidwatch"]
    if not os.environ.get("QT_QPA_PLATFORM"):
        argv += ["-platform", "offscreen"]
    _QT_APP = QApplication(argv)
    return _QT_APP


def write_pdf(report: Report, path: Path) -> Path:
    """Write the report as an A4 PDF at ``path`` (atomically)."""
    html = render_pdf_html(report)
    qt_application()
    from PySide6.QtCore import QMarginsF, QRectF, QSizeF, Qt
    from PySide6.QtGui import QColor, QFont, QPageLayout, QPageSize, QPainter, QPdfWriter, QTextDocument

    footer = (f"reidwatch cross-camera match report \u00b7 generated "
              f"{report.provenance.generated_at:%Y-%m-%d %H:%M:%S} UTC")

    def write(tmp: Path) -> None:
        writer = QPdfWriter(str(tmp))
        writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
        writer.setPageMargins(QMarginsF(*MARGINS_MM), QPageLayout.Unit.Millimeter)
        writer.setResolution(RESOLUTION)
        writer.setTitle(f"Cross-camera match report ({report.summary.n_identities} identities)")
        writer.setCreator(f"reidwatch {__version__}")
        width, height = writer.width(), writer.height()  # the text area, in document pixels
        body = height - FOOTER_PX
        doc = QTextDocument()
        doc.setDefaultFont(QFont("DejaVu Sans", 9))
        doc.setDocumentMargin(0)
        doc.setHtml(html)
        doc.setPageSize(QSizeF(width, body))
        n_pages = doc.pageCount()
        painter = QPainter()
        if not painter.begin(writer):
            raise UserError(f"cannot write {path}: Qt could not open the PDF for writing")
        try:
            small = QFont("DejaVu Sans", 7)
            for page in range(n_pages):
                if page:
                    writer.newPage()
                painter.save()
                painter.translate(0, -page * body)
                doc.drawContents(painter, QRectF(0, page * body, width, body))
                painter.restore()
                painter.setFont(small)
                painter.setPen(QColor("#59636e"))
                line = QRectF(0, height - FOOTER_PX + 8, width, FOOTER_PX - 8)
                painter.drawText(line, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom), footer)
                painter.drawText(line, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom),
                                 f"page {page + 1} of {n_pages}")
        finally:
            painter.end()
        del writer  # finishes the file
        if tmp.stat().st_size == 0:
            raise UserError(f"Qt wrote an empty PDF for {path.name}")
        log.debug("PDF: %d pages", n_pages)

    return write_atomic(path, write)
