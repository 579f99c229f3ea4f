"""Bystanders in report pictures: blur the heads of people who are not the report's subjects.

A report embeds one picture per identity and camera: the track's stored thumbnail, which is the crop of the
track's best sample (its box at the frame of its highest-quality embedding, padded by 5 % and clipped to the
frame, scaled to 128 px high). Other people whose boxes reach into that crop can show there. For every such
picture this module finds the other tracks of the same source observed at that frame, and when their identity
is not one of the report's subjects (or they are linked to none), blurs their head (from the nose, eye and ear
keypoints; the top fifth of their box when none is visible) where it falls inside the crop. The subject's own
head is never blurred. A thumbnail whose frame cannot be found (no embedding) is left as it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.privacy.blur import Box, blur_jpeg, head_box, jpeg_size, to_picture
from app.store import models as m

PAD = 0.05  # app.ingest.sampling.crop_box's padding


def crop_rect(box: Box, frame_wh: tuple[int, int], pad: float = PAD) -> Box:
    """The frame rectangle a sample crop covers (as ``crop_box`` cuts it); frame size 0 means unknown."""
    x1, y1, x2, y2 = box
    px, py = (x2 - x1) * pad, (y2 - y1) * pad
    fw, fh = frame_wh
    cx1, cy1 = max(0.0, np.floor(x1 - px)), max(0.0, np.floor(y1 - py))
    cx2, cy2 = np.ceil(x2 + px), np.ceil(y2 + py)
    if fw > 0:
        cx2 = min(float(fw), cx2)
    if fh > 0:
        cy2 = min(float(fh), cy2)
    return (float(cx1), float(cy1), float(cx2), float(cy2))


def bystander_heads(s: Session, track_id: int, subjects: set[int]) -> tuple[Box, list[Box]]:
    """The frame rectangle of a track's thumbnail and the head boxes (frame pixels) of non-subjects in it."""
    frame = s.scalar(select(m.Embedding.frame).where(m.Embedding.track_id == track_id)
                     .order_by(m.Embedding.quality.desc(), m.Embedding.id).limit(1))
    tr = s.execute(select(m.Track.source_id, m.Source.width, m.Source.height)
                   .join(m.Source, m.Source.id == m.Track.source_id).where(m.Track.id == track_id)).first()
    if frame is None or tr is None:
        return (0.0, 0.0, 0.0, 0.0), []
    own = s.execute(select(m.Observation.x1, m.Observation.y1, m.Observation.x2, m.Observation.y2)
                    .where(m.Observation.track_id == track_id, m.Observation.frame == frame).limit(1)).first()
    if own is None:
        return (0.0, 0.0, 0.0, 0.0), []
    cut = crop_rect(tuple(own), (tr.width, tr.height))
    near = select(m.Track.id).where(m.Track.source_id == tr.source_id, m.Track.id != track_id,
                                    m.Track.first_frame <= frame, m.Track.last_frame >= frame)
    q = (select(m.Observation.x1, m.Observation.y1, m.Observation.x2, m.Observation.y2, m.Observation.keypoints,
                m.Track.identity_id)
         .join(m.Track, m.Track.id == m.Observation.track_id)
         .where(m.Observation.track_id.in_(near), m.Observation.frame == frame))
    heads = []
    for x1, y1, x2, y2, kps, ident in s.execute(q):
        if ident is not None and ident in subjects:
            continue
        if x2 <= cut[0] or x1 >= cut[2] or y2 <= cut[1] or y1 >= cut[3]:
            continue
        heads.append(head_box(np.frombuffer(kps, np.float32).reshape(17, 3), (x1, y1, x2, y2)))
    return cut, heads


def blur_thumbnail(s: Session, track_id: int, jpeg: bytes, subjects: set[int]) -> tuple[bytes, int]:
    """The thumbnail with bystanders' heads blurred, and how many heads were blurred."""
    cut, heads = bystander_heads(s, track_id, subjects)
    size = jpeg_size(jpeg) if heads else None
    if size is None:
        return jpeg, 0
    regions = [r for r in (to_picture(h, cut, size) for h in heads) if r is not None]
    return blur_jpeg(jpeg, regions), len(regions)


def blur_report_pictures(s: Session, report: object, subjects: Iterable[int]) -> tuple[object, int]:
    """A report value whose camera thumbnails have bystanders blurred; returns it and the heads blurred."""
    subj = set(subjects)
    total = 0
    idents = []
    for ident in report.identities:  # type: ignore[attr-defined]
        cams = []
        for cam in ident.cameras:
            if cam.thumbnail:
                jpeg, n = blur_thumbnail(s, cam.best_track_id, cam.thumbnail, subj)
                total += n
                cam = dataclasses.replace(cam, thumbnail=jpeg)
            cams.append(cam)
        idents.append(dataclasses.replace(ident, cameras=tuple(cams)))
    return dataclasses.replace(report, identities=tuple(idents)), total  # type: ignore[type-var]
