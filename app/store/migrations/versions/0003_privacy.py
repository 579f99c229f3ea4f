"""privacy: audit trail, legal hold, retention index

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:55:00

- ``audit_log``: append-only, hash-chained record of who searched, exported, decided, purged (app.privacy.audit).
  Triggers (SQLite; plpgsql on PostgreSQL) refuse DELETE, and UPDATE of a row whose hash is set (a row is inserted, then its hash is
  filled in once, inside the same transaction that holds the store's write lock).
- ``identities.hold`` / ``hold_reason``: a legal hold keeps an identity's tracks through retention purges.
- ``ix_tracks_end_time``: a purge selects the tracks that ended before its cut.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TRIGGERS = (
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log WHEN OLD.hash != '' "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
)

# PostgreSQL: the same rules in plpgsql (TRUNCATE too); an integrity error, as SQLite's RAISE(ABORT) gives
_PG_TRIGGERS = (
    "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP <> 'UPDATE' THEN RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = '23000'; END IF; "
    "IF OLD.hash <> '' THEN RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = '23000'; END IF; "
    "RETURN NEW; END $$",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log FOR EACH ROW "
    "EXECUTE FUNCTION audit_log_append_only()",
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log FOR EACH ROW "
    "EXECUTE FUNCTION audit_log_append_only()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT "
    "EXECUTE FUNCTION audit_log_append_only()",
)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("who", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_at", ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_action"), ["action"], unique=False)
    dialect = op.get_bind().dialect.name
    for ddl in _TRIGGERS if dialect == "sqlite" else _PG_TRIGGERS if dialect == "postgresql" else ():
        op.execute(ddl)
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hold", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("hold_reason", sa.String(length=2000), nullable=True))
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tracks_end_time"), ["end_time"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracks_end_time"))
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_column("hold_reason")
        batch_op.drop_column("hold")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    elif op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only() CASCADE")
    op.drop_table("audit_log")
