"""A table model over a list of frozen rows, and the formatting helpers every view shares."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QImage

R = TypeVar("R")
Index = QModelIndex | QPersistentModelIndex

ROW_ROLE = int(Qt.ItemDataRole.UserRole) + 1  # the row's dataclass
SORT_ROLE = int(Qt.ItemDataRole.UserRole) + 2  # a value that sorts naturally (numbers, datetimes)


def fmt_time(dt: datetime | None, *, with_date: bool = True) -> str:
    """A stored (UTC) time in the operator's local time zone; an em dash for no time."""
    if dt is None:
        return "—"
    local = dt.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def fmt_span(start: datetime | None, end: datetime | None) -> str:
    """'2026-11-27 10:00:03 – 10:00:41' (the date once when both ends fall on the same day)."""
    if start is None or end is None:
        return fmt_time(start or end)
    same_day = start.astimezone().date() == end.astimezone().date()
    return f"{fmt_time(start)} – {fmt_time(end, with_date=not same_day)}"


def identity_label(identity_id: int | None, name: str | None) -> str:
    """An identity as operators see it: its name, else 'Person #id'; 'unlinked' without an identity."""
    if identity_id is None:
        return "unlinked"
    return name or f"Person #{identity_id}"


def plain_tooltip(text: str | None) -> str:
    """A tooltip that shows ``text`` as typed. Qt guesses rich text in tooltips as it does in labels, so a
    stored string (an identity's name, a camera, a file name) is escaped and wrapped: never read as HTML."""
    if not text:
        return ""
    return "<p style='white-space:pre-wrap'>" + html.escape(text, quote=False).replace("\n", "<br>") + "</p>"


def scaled_thumb(image: QImage | None, height: int) -> QImage | None:
    """A copy of ``image`` scaled to ``height`` pixels (aspect kept); None stays None."""
    if image is None or image.isNull():
        return None
    return image.scaledToHeight(height, Qt.TransformationMode.SmoothTransformation)


class RowTableModel(QAbstractTableModel, Generic[R]):
    """A read-only table over a list of rows. Subclasses set ``HEADERS`` and implement :meth:`cell`.

    Thumbnails (``QImage`` values keyed by an id the subclass chooses) are kept beside the rows, so a
    refresh of the rows keeps the pictures already loaded.
    """

    HEADERS: ClassVar[tuple[str, ...]] = ()
    THUMB_COLUMNS: ClassVar[tuple[int, ...]] = ()

    def __init__(self, *, thumb_height: int = 64, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[R] = []
        self._thumbs: dict[Any, QImage] = {}
        self.thumb_height = thumb_height

    # ---- data in
    def set_rows(self, rows: Sequence[R]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def set_thumbnail(self, key: Any, image: QImage | None) -> None:
        """Show ``image`` wherever a row's thumbnail key is ``key``."""
        scaled = scaled_thumb(image, self.thumb_height)
        if scaled is None:
            self._thumbs.pop(key, None)
        else:
            self._thumbs[key] = scaled
        for r, row in enumerate(self._rows):
            for c in self.THUMB_COLUMNS:
                if self.thumb_key(row, c) == key:
                    ix = self.index(r, c)
                    self.dataChanged.emit(ix, ix, [Qt.ItemDataRole.DecorationRole])

    def thumbnail(self, key: Any) -> QImage | None:
        return self._thumbs.get(key)

    # ---- data out
    def rows(self) -> list[R]:
        return list(self._rows)

    def row(self, r: int) -> R:
        return self._rows[r]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section] if 0 <= section < len(self.HEADERS) else None
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        row = self._rows[index.row()]
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.DecorationRole and index.column() in self.THUMB_COLUMNS:
            return self._thumbs.get(self.thumb_key(row, index.column()))
        value = self.cell(row, index.column(), role)
        if role == Qt.ItemDataRole.ToolTipRole and isinstance(value, str):
            return plain_tooltip(value)
        return value

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # ---- for subclasses
    def cell(self, row: R, column: int, role: int) -> Any:
        raise NotImplementedError

    def thumb_key(self, row: R, column: int) -> Any:
        """The key of the thumbnail shown in ``column`` of ``row`` (by default: none)."""
        return None
