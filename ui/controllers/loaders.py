"""Functions the controllers run on worker threads: store reads shaped for one view, JPEGs decoded to QImage.

Each takes the open ``Database`` first and returns plain values, so ``TaskRunner.submit(fn, db, ...)`` can
carry the result back to the UI thread. Nothing here touches a widget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage

from app.errors import UserError
from app.identity import confidence
from app.runtime import Runtime
from app.store import Database, queries, repo
from app.store.records import IdentityInfo, SourceInfo, TrackInfo
from ui.models.base import fmt_span
from ui.models.review import MatchRow


def decode_jpeg(data: bytes | None) -> QImage | None:
    """A QImage from JPEG bytes (None for no bytes or bytes that do not decode)."""
    if not data:
        return None
    image = QImage.fromData(data)
    return None if image.isNull() else image


@dataclass(frozen=True)
class GalleryData:
    identities: list[IdentityInfo]
    cameras: list[str]


def load_gallery(db: Database, *, cameras: list[str] | None, t_from: datetime | None,
                 t_to: datetime | None) -> GalleryData:
    """The identities passing the filters, and every camera name (for the filter itself)."""
    identities = queries.list_identities(db, cameras=cameras, t_from=t_from, t_to=t_to)
    with db.session() as s:
        names = [c.name for c in repo.list_cameras(s)]
    return GalleryData(identities, names)


def load_identity_cards(db: Database, identity_ids: Sequence[int], *,
                        limit: int = 4) -> dict[int, list[tuple[str, QImage]]]:
    """identity id -> up to ``limit`` (camera, thumbnail) pairs: the best sighting of every camera first
    (cameras in name order), then second-best ones, and so on."""
    out: dict[int, list[tuple[str, QImage]]] = {}
    for iid in identity_ids:
        per_camera = queries.identity_thumbnails(db, iid, per_camera=limit)
        thumbs: list[tuple[str, QImage]] = []
        for rank in range(limit):
            for camera, items in per_camera.items():
                if rank < len(items) and len(thumbs) < limit:
                    image = decode_jpeg(items[rank][1])
                    if image is not None:
                        thumbs.append((camera, image))
        out[iid] = thumbs
    return out


def load_track_thumbnails(db: Database, track_ids: Sequence[int]) -> dict[int, QImage | None]:
    """track id -> its thumbnail (None when it has none)."""
    return {tid: decode_jpeg(queries.track_thumbnail(db, tid)) for tid in dict.fromkeys(track_ids)}


@dataclass(frozen=True)
class IdentityDetail:
    identity: IdentityInfo | None
    tracks: list[TrackInfo]


def load_identity_detail(db: Database, identity_id: int) -> IdentityDetail:
    return IdentityDetail(queries.identity(db, identity_id), queries.identity_tracks(db, identity_id))


def load_pending(db: Database, *, limit: int = 200) -> list[MatchRow]:
    """Automatic matches awaiting review, closest first, each with both tracks."""
    matches = queries.pending_matches(db, limit=limit)
    ids = {t for mt in matches for t in (mt.track_a, mt.track_b)}
    with db.session() as s:
        tracks = {t.id: t for t in repo.list_tracks(s, ids=ids)}
        sure = confidence.match_confidences(s, [mt.id for mt in matches])
    return [MatchRow(mt, tracks[mt.track_a], tracks[mt.track_b], sure.get(mt.id)) for mt in matches
            if mt.track_a in tracks and mt.track_b in tracks]


def load_sources(db: Database) -> list[SourceInfo]:
    with db.session() as s:
        return repo.list_sources(s)


def best_frame(db: Database, source_id: int) -> int:
    """The frame of a source where the most people are observed (a good first picture of it)."""
    with db.session() as s:
        tracks = repo.list_tracks(s, source_id=source_id)
        if not tracks:
            return 0
        obs = repo.observations(s, [t.id for t in tracks])
    counts: dict[int, int] = {}
    for o in obs:
        counts[o.frame] = counts.get(o.frame, 0) + 1
    return max(counts, key=lambda f: (counts[f], -f)) if counts else 0


def longest_track(db: Database) -> TrackInfo | None:
    """The track with the most observations (what the screenshot command searches with)."""
    with db.session() as s:
        tracks = repo.list_tracks(s)
    return max(tracks, key=lambda t: (t.n_obs, -t.id)) if tracks else None


@dataclass(frozen=True)
class QueryInfo:
    """What a search starts from: a stored track, or a picture from a file."""

    track: TrackInfo | None
    image: QImage | None
    label: str


def load_track_query(db: Database, track_id: int) -> QueryInfo:
    tr = queries.track(db, track_id)
    if tr is None:
        raise UserError(f"no track {track_id} in the store")
    return QueryInfo(tr, decode_jpeg(queries.track_thumbnail(db, track_id)),
                     f"Track #{tr.id} · {tr.camera} · {fmt_span(tr.start_time, tr.end_time)}")


def read_image_file(path: Path) -> np.ndarray:
    """A BGR uint8 (H, W, 3) image from a file; UserError when it is not an image OpenCV can read."""
    import cv2

    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise UserError(f"not an image OpenCV can read: {path}")
    return image


def load_image_query(path: Path) -> QueryInfo:
    bgr = read_image_file(path)
    h, w = bgr.shape[:2]
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QueryInfo(None, image, f"Image {path.name} ({w}×{h})")


def search_image_file(runtime: Runtime, db: Database, path: Path, **filters: object) -> list:
    """``Runtime.search_by_image`` on an image file (the largest person in it is the query)."""
    return runtime.search_by_image(db, read_image_file(path), image_name=str(path), **filters)  # type: ignore[arg-type]
