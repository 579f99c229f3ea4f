"""Show what the store holds (cameras, sources, tracks, identities), the device and the resolved weights."""

from __future__ import annotations

import argparse

from sqlalchemy import func, select

from app.commands.common import add_db_argument, open_db
from app.store import models as m
from app.store import repo


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_db_argument(p)


def summarize(db) -> str:  # type: ignore[no-untyped-def]
    lines = [f"database: {db.label}"]
    with db.session() as s:
        for cam in repo.list_cameras(s):
            lines.append(f"camera {cam.name} ({cam.kind}{', ' + cam.url_redacted if cam.url_redacted else ''})")
            for src in repo.list_sources(s, cam.id):
                n_tracks = s.scalar(select(func.count(m.Track.id)).where(m.Track.source_id == src.id))
                lines.append(f"  source {src.id}: {src.uri} [{src.status}] {src.frames_done}/{src.frame_count} "
                             f"frames from {src.start_time.isoformat(timespec='seconds')}, {n_tracks} tracks")
        from app.training.active import ACTIVE_KEY

        active = repo.get_setting(s, ACTIVE_KEY)
        if active:
            from app.training.active import active_checkpoint

            local = active_checkpoint(db, active)
            where = str(local) if local is not None else f"{active['path']} (missing on this machine)"
            lines.append(f"encoder: {where} ({active.get('tag', '?')})")
        else:
            lines.append("encoder: default (ImageNet backbone, not adapted to this site)")
        n_ids = s.scalar(select(func.count(m.Identity.id)))
        n_emb = s.scalar(select(func.count(m.Embedding.id)))
        n_obs = s.scalar(select(func.count(m.Observation.id)))
        lines.append(f"{n_obs} observations, {n_emb} embeddings, {n_ids} identities")
        from app.store.crops import crop_stats

        crops = crop_stats(s)
        if crops.crops:
            lines.append(f"{crops.crops} training crops of {crops.tracks} tracks ({crops.jpeg_bytes / 1e6:.1f} MB, "
                         f"kept for tracks whose video is not kept)")
        thr = repo.get_setting(s, "link.threshold")
        if thr and "value" in thr:
            how = "calibrated" if thr.get("calibrated") else thr.get("source", "given")
            lines.append(f"linking threshold: {float(thr['value']):.3f} ({how}, link run {thr.get('run_id', '?')})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    _, db = open_db(args, create=False)
    print(summarize(db))
    db.close()
    return 0
