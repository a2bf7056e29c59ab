"""Consent: notices, append-only consent events, current-state projection.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

APPEND_ONLY = ("notices", "consent_events")


def ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("purpose", sa.String(80), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        ts("published_at"),
        sa.UniqueConstraint("purpose", "language", "version", name="uq_notices_purpose_language_version"),
        sa.UniqueConstraint("purpose", "language", "sha256", name="uq_notices_purpose_language_sha256"),
    )
    op.create_table(
        "consent_events",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(80), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target_ref", sa.String(80), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column(
            "notice_id",
            sa.Uuid(),
            sa.ForeignKey("notices.id", name="fk_consent_events_notice_id_notices"),
            nullable=False,
        ),
        sa.Column("notice_sha256", sa.String(64), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("channel", sa.String(24), nullable=False),
        sa.Column("evidence_ct", sa.LargeBinary()),
        ts("given_at"),
        ts("expires_at", nullable=True),
        ts("recorded_at"),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("idempotency_key", sa.String(100)),
        sa.Column("request_hash", sa.String(64)),
        sa.UniqueConstraint("actor", "idempotency_key", name="uq_consent_events_actor_idempotency_key"),
    )
    op.create_index("ix_consent_events_person_id", "consent_events", ["person_id"])
    op.create_table(
        "consent_states",
        sa.Column("person_id", sa.Uuid(), primary_key=True),
        sa.Column("purpose", sa.String(80), primary_key=True),
        sa.Column("target_kind", sa.String(16), primary_key=True),
        sa.Column("target_ref", sa.String(80), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        ts("given_at"),
        ts("expires_at", nullable=True),
    )
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        if dialect == "postgresql":  # the function comes from revision 0001
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION consent_hub_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION consent_hub_append_only()"
            )
        elif dialect == "sqlite":
            for op_name in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{op_name.lower()} BEFORE {op_name} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only'); END"
                )


def downgrade() -> None:
    raise RuntimeError("consent history cannot be downgraded: it would destroy proof of consent")
