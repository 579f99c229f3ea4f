"""Report writers are plug-ins: the installed ``reidwatch.report_writers`` entry points name them by suffix,
``app`` registers HTML, CSV and JSON, and the desktop package registers PDF."""

from __future__ import annotations

import pytest

import ui  # noqa: F401 - sets Qt's plugin environment before ui.report_pdf loads PySide6
from app.errors import UserError
from app.report import WRITER_GROUP, report_writers, writer_for


def test_installed_entry_points_give_html_csv_json_and_pdf() -> None:
    writers = report_writers()
    assert WRITER_GROUP == "reidwatch.report_writers"
    assert {".html", ".csv", ".json", ".pdf"} <= set(writers)
    assert writers[".html"].value == "app.report.html:write_html"
    assert writers[".htm"].value == writers[".html"].value
    assert writers[".csv"].value == "app.report.csv_json:write_csv"
    assert writers[".json"].value == "app.report.csv_json:write_json"


def test_pdf_resolves_to_the_desktop_package_writer() -> None:
    import ui.report_pdf
    from app.report.csv_json import write_csv
    from app.report.html import write_html

    pdf = writer_for("out/Report.PDF")  # the suffix is matched case-insensitively
    assert pdf.value == "ui.report_pdf:write_pdf"
    assert pdf.load() is ui.report_pdf.write_pdf
    assert writer_for("r.html").load() is write_html
    assert writer_for("r.csv").load() is write_csv


def test_an_unknown_suffix_is_a_user_error_listing_the_installed_writers() -> None:
    with pytest.raises(UserError) as err:
        writer_for("report.docx")
    assert "report.docx" in str(err.value)
    for suffix in (".csv", ".html", ".json", ".pdf"):
        assert suffix in str(err.value)
