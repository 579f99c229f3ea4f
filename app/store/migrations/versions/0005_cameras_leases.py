"""Registered cameras and node leases (issue 12).

Revision ID: 0005
Revises: 0004

- ``cameras.stream_ref``: how a node finds a registered camera's stream: ``env:VARIABLE`` (the URL lives in the
  node's environment) or a URL without credentials (a node's secrets file may supply the credentialed one).
  NULL for cameras that are not registered for ``watch --node`` (file cameras, ``watch --camera`` cameras).
- ``camera_leases``: which node watches which registered camera, since when, its last heartbeat, health and
  frames/s. At most one row per camera (the primary key). On SQLite the row *is* the lease (it expires); on
  PostgreSQL a session-level advisory lock is the lease and the row is for display (app.nodes.leases).
- ``nodes``: the ``watch --node`` processes running now (name, host, pid, heartbeat), for fair sharing and display.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``cameras.stream_ref`` and the ``camera_leases`` table."""
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stream_ref", sa.String(length=2000), nullable=True))
    op.create_table(
        "camera_leases",
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.Column("health", sa.String(length=32), nullable=False, server_default="connecting"),
        sa.Column("fps", sa.Float(), nullable=False, server_default="0"),
        sa.Column("frames", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("camera_id"),
    )
    with op.batch_alter_table("camera_leases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_camera_leases_node"), ["node"], unique=False)
    op.create_table(
        "nodes",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    """Drop the node and lease tables and ``cameras.stream_ref``."""
    op.drop_table("nodes")
    with op.batch_alter_table("camera_leases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_camera_leases_node"))
    op.drop_table("camera_leases")
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_column("stream_ref")
