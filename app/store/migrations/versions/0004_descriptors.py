"""Per-track descriptor table (issue 13).

Revision ID: 0004
Revises: 0003

- ``track_descriptors``: one aggregated PGFA descriptor per embedded track, written with its samples from now on
  (``app.store.repo.add_embeddings``). Search builds its FAISS index from it and linking reads it; neither
  aggregates samples again. Existing stores get theirs here, aggregated once from their stored samples.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "track_descriptors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("model_tag", sa.String(length=200), nullable=False),
        sa.Column("n_samples", sa.Integer(), nullable=False),
        sa.Column("global_feat", sa.LargeBinary(), nullable=False),
        sa.Column("parts", sa.LargeBinary(), nullable=False),
        sa.Column("visibility", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["track_id"], ["tracks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("track_id"),
        sqlite_autoincrement=True,
    )
    from app.store.descriptor_table import fill

    fill(op.get_bind())


def downgrade() -> None:
    op.drop_table("track_descriptors")
