"""Segments: a covering index of ticket lines by event and buyer; UiT themes of events.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # (event_id) is the leading column of the new index, so the old one adds nothing
    op.drop_index("ix_sales_event_id", table_name="sales")
    op.create_index(
        "ix_sales_event_id_person_id",
        "sales",
        ["event_id", "person_id"],
        postgresql_include=["house_id", "ticket_count", "price", "sold_at"],
    )
    op.add_column("events", sa.Column("uit_themes", sa.Text(), nullable=False, server_default="[]"))


def downgrade() -> None:
    op.drop_column("events", "uit_themes")
    op.drop_index("ix_sales_event_id_person_id", table_name="sales")
    op.create_index("ix_sales_event_id", "sales", ["event_id"])
