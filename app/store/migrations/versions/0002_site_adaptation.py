"""Site adaptation: no schema change.

The store's active encoder is the setting ``encoder.active`` (path, model tag, model card, the track pairs it was
trained apart) in the existing ``settings`` table; every embedding already carries its ``model_tag``; crops are
re-read from the source videos (``observations`` keep every box and keypoint), so no crop table is needed. This
revision exists so the chain stays linear (0001 -> 0002 -> 0003).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change (see the module docstring)."""


def downgrade() -> None:
    """Nothing to change."""
