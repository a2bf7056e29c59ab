"""Outbox: deliveries to destinations, enqueued in the transaction of their cause.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("destination", sa.String(80), nullable=False),
        sa.Column("person_id", sa.Uuid()),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("cause", sa.String(120), nullable=False),
        sa.Column("dedupe_key", sa.String(160)),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("sent_as", sa.String(16)),
        sa.Column("receipt", sa.Text()),
        sa.Column("last_error", sa.Text()),
        sa.UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_destination_person_id_created_at", "outbox", ["destination", "person_id", "created_at"])


def downgrade() -> None:
    op.drop_table("outbox")
