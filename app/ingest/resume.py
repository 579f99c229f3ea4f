"""Resuming an ingest that was killed (``kill -9``, power loss): close the tracks that were open at the kill.

Such a track has its observations in the store (they were flushed) but no embeddings and no thumbnail: its
samples lived in the killed process's memory. :func:`close_unfinished_tracks` picks the track's best stored
observations (:func:`pick_frames`, pure), reads those frames from the video again, crops and embeds them and
writes the embeddings and thumbnail, as a normal close would have. The resumed run then starts new tracks
after the last stored frame. The store cannot tell which open track was scenery or an unconfirmed refind part
(``app.ingest.tracklife``), so such a track, open at the kill, is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from sqlalchemy import exists, select

from app.ingest.pipeline import EncoderLike, model_tag, thumbnail_jpeg
from app.ingest.sampling import Sample, TrackSampler, crop_box, sample_quality, sharpness
from app.ingest.video import FrameReader, VideoInfo
from app.store import Database, repo
from app.store import models as m
from app.store.records import ObservationRecord

log = logging.getLogger(__name__)


def unfinished_tracks(db: Database, source_id: int) -> list[int]:
    """Tracks of the source that were never closed: no embedding and no thumbnail."""
    with db.session() as s:
        has_emb = exists().where(m.Embedding.track_id == m.Track.id)
        return list(s.scalars(select(m.Track.id).where(m.Track.source_id == source_id, m.Track.thumbnail.is_(None),
                                                       ~has_emb).order_by(m.Track.id)))


def pick_frames(obs: Sequence[ObservationRecord], k: int, min_gap: int = 3) -> list[ObservationRecord]:
    """Up to ``3 k`` detected (not predicted) observations, largest boxes x scores first, ``min_gap`` apart."""
    ranked = sorted((o for o in obs if not o.predicted),
                    key=lambda o: -(o.score * max(0.0, o.box[3] - o.box[1]) * max(0.0, o.box[2] - o.box[0])))
    chosen: list[ObservationRecord] = []
    for o in ranked:
        if all(abs(o.frame - c.frame) >= min_gap for c in chosen):
            chosen.append(o)
        if len(chosen) >= 3 * k:
            break
    return sorted(chosen, key=lambda o: o.frame)


def close_unfinished_tracks(db: Database, source_id: int, info: VideoInfo, encoder: EncoderLike, *,
                            samples_per_track: int = 6) -> int:
    """Embed and thumbnail every unfinished track of the source from its video; returns how many were closed."""
    track_ids = unfinished_tracks(db, source_id)
    if not track_ids:
        return 0
    with db.session() as s:
        obs = repo.observations(s, track_ids)
    wanted: dict[int, list[ObservationRecord]] = {}
    for tid in track_ids:
        for o in pick_frames([o for o in obs if o.track_id == tid], samples_per_track):
            wanted.setdefault(o.frame, []).append(o)
    if not wanted:
        return 0
    samplers = {tid: TrackSampler(k=samples_per_track, min_gap=3) for tid in track_ids}
    with FrameReader(info, start_frame=min(wanted)) as reader:
        for fr in reader:
            for o in wanted.get(fr.index, []):
                _add_sample(samplers[o.track_id], fr.image, o)
            if fr.index >= max(wanted):
                break
    tag = model_tag(encoder)
    closed = 0
    for tid, sampler in samplers.items():
        samples = list(sampler.samples)
        if not samples:
            continue
        emb = encoder.encode([x.crop_bgr[:, :, ::-1] for x in samples], [x.keypoints for x in samples])
        best = sampler.best()
        jpeg = thumbnail_jpeg(best.crop_bgr) if best is not None else None
        with db.session() as s:
            repo.add_embeddings(s, tid, [x.frame for x in samples], [x.quality for x in samples],
                                np.asarray(emb.global_feat), np.asarray(emb.parts),  # type: ignore[attr-defined]
                                np.asarray(emb.visibility), tag)  # type: ignore[attr-defined]
            if jpeg:
                repo.set_thumbnail(s, tid, jpeg)
        closed += 1
    log.info("source %d: %d track(s) left open by an interrupted run closed from the video", source_id, closed)
    return closed


def _add_sample(sampler: TrackSampler, image: np.ndarray, o: ObservationRecord) -> None:
    box = np.asarray(o.box, np.float32)
    crop, cut = crop_box(image, box)
    if crop.shape[0] < 8 or crop.shape[1] < 4:
        return
    kps = np.array(o.keypoints, np.float32)
    quality = sample_quality(box, kps, 0.0, sharpness(crop), image.shape[:2])
    if not sampler.would_take(o.frame, quality):
        return
    kps[:, 0] -= cut[0]
    kps[:, 1] -= cut[1]
    sampler.add(Sample(o.frame, quality, crop, kps))
