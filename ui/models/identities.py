"""The identity gallery's model: one row per identity (``IdentityInfo``) with its thumbnails per camera."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt
from PySide6.QtGui import QImage

from app.store.records import IdentityInfo
from ui.models.base import ROW_ROLE, Index, fmt_time, identity_label, plain_tooltip, scaled_thumb

THUMBS_ROLE = int(Qt.ItemDataRole.UserRole) + 10  # tuple[(camera, QImage), ...]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# sort key name -> (label, key function, largest first)
SORT_KEYS: dict[str, tuple[str, Callable[[IdentityInfo], Any], bool]] = {
    "last_seen": ("Last seen", lambda i: (i.last_seen or _EPOCH, i.id), True),
    "first_seen": ("First seen", lambda i: (i.first_seen or _EPOCH, i.id), False),
    "sightings": ("Sightings", lambda i: (i.n_tracks, i.id), True),
    "cameras": ("Cameras", lambda i: (len(i.cameras), i.n_tracks, i.id), True),
    "name": ("Name", lambda i: ((i.name or "").casefold() or "\uffff", i.id), False),
}


def sort_identities(rows: Sequence[IdentityInfo], key: str) -> list[IdentityInfo]:
    """``rows`` ordered by one of :data:`SORT_KEYS` (unnamed identities after named ones for 'name')."""
    try:
        _label, fn, descending = SORT_KEYS[key]
    except KeyError:
        raise ValueError(f"unknown sort key {key!r}; valid: {', '.join(SORT_KEYS)}") from None
    return sorted(rows, key=fn, reverse=descending)


def identity_summary(info: IdentityInfo) -> str:
    """Two lines for a card: when the person was seen, and how often where."""
    n = info.n_tracks
    cams = ", ".join(info.cameras) or "no camera"
    return (f"first {fmt_time(info.first_seen)}\nlast  {fmt_time(info.last_seen)}\n"
            f"{n} sighting{'s' if n != 1 else ''} · {cams}")


class IdentityListModel(QAbstractListModel):
    """Identities in the order of the current sort key, each with up to ``max_thumbs`` thumbnails."""

    def __init__(self, *, thumb_height: int = 112, max_thumbs: int = 4, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[IdentityInfo] = []
        self._thumbs: dict[int, tuple[tuple[str, QImage], ...]] = {}
        self._sort_key = "last_seen"
        self.thumb_height = thumb_height
        self.max_thumbs = max_thumbs

    @property
    def sort_key(self) -> str:
        return self._sort_key

    def set_sort_key(self, key: str) -> None:
        self.beginResetModel()
        self._rows = sort_identities(self._rows, key)
        self._sort_key = key
        self.endResetModel()

    def set_rows(self, rows: Sequence[IdentityInfo]) -> None:
        """Replace the identities; thumbnails of identities that remain are kept."""
        self.beginResetModel()
        self._rows = sort_identities(rows, self._sort_key)
        keep = {r.id for r in self._rows}
        self._thumbs = {k: v for k, v in self._thumbs.items() if k in keep}
        self.endResetModel()

    def set_thumbnails(self, identity_id: int, thumbs: Sequence[tuple[str, QImage]]) -> None:
        """(camera, image) pairs for one identity, shown in the given order."""
        scaled = tuple((cam, img) for cam, img in
                       ((cam, scaled_thumb(img, self.thumb_height)) for cam, img in thumbs[: self.max_thumbs])
                       if img is not None)
        self._thumbs[identity_id] = scaled
        r = self.row_of(identity_id)
        if r is not None:
            ix = self.index(r, 0)
            self.dataChanged.emit(ix, ix, [THUMBS_ROLE])

    def thumbnails(self, identity_id: int) -> tuple[tuple[str, QImage], ...]:
        return self._thumbs.get(identity_id, ())

    def rows(self) -> list[IdentityInfo]:
        return list(self._rows)

    def row(self, r: int) -> IdentityInfo:
        return self._rows[r]

    def row_of(self, identity_id: int) -> int | None:
        return next((i for i, r in enumerate(self._rows) if r.id == identity_id), None)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        info = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return identity_label(info.id, info.name)
        if role == ROW_ROLE:
            return info
        if role == THUMBS_ROLE:
            return self._thumbs.get(info.id, ())
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tooltip(f"{identity_label(info.id, info.name)} (identity {info.id})\n{identity_summary(info)}")
        return None
