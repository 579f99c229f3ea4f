"""Queued ingest jobs (issue 12).

Revision ID: 0006
Revises: 0005

- ``queue_jobs``: one row per file queued with ``reidwatch ingest --queue``: the Celery task id, the file (a path
  every worker reaches), the camera, the state (pending | running | done | failed), the last worker that took it,
  how many times a worker started it, the error or outcome line, the source it stored, and when it was queued,
  started and finished (app.queue.jobs). The broker holds the messages; this table is what ``reidwatch queue``
  shows from any machine.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``queue_jobs``."""
    op.create_table(
        "queue_jobs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=4000), nullable=False),
        sa.Column("camera", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("message", sa.String(length=2000), nullable=True),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("queue_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_queue_jobs_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_queue_jobs_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    """Drop ``queue_jobs``."""
    with op.batch_alter_table("queue_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_queue_jobs_created_at"))
        batch_op.drop_index(batch_op.f("ix_queue_jobs_state"))
    op.drop_table("queue_jobs")
