"""Training crops of tracks whose video is not kept (issue 10).

Revision ID: 0007
Revises: 0006

- ``track_crops``: up to ``[ingest] training_crops`` person crops per track, spread over its time in view, kept at
  ingest for sources whose video is not kept (live cameras, by default; ``[ingest] keep_crops``): the JPEG (height
  capped), its frame, the box cut from the frame (pixels), the 17 COCO keypoints in the JPEG's pixels with their
  confidences (float32 (17, 3)) and a quality score. ``reidwatch adapt`` trains on them and ``reidwatch reembed``
  re-embeds from them when there is no video to re-read (app.training.crops). Rows go with their track
  (ON DELETE CASCADE): retention purges and source deletion remove them. Existing stores get an empty table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``track_crops``."""
    op.create_table(
        "track_crops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("frame", sa.Integer(), nullable=False),
        sa.Column("x1", sa.Integer(), nullable=False),
        sa.Column("y1", sa.Integer(), nullable=False),
        sa.Column("x2", sa.Integer(), nullable=False),
        sa.Column("y2", sa.Integer(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("keypoints", sa.LargeBinary(), nullable=False),
        sa.Column("jpeg", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["track_id"], ["tracks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("track_id", "frame", name="uq_track_crops_track_frame"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    """Drop ``track_crops``."""
    op.drop_table("track_crops")
