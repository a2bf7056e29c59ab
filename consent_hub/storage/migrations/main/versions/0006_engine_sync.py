"""Ticketing engine sync: engine customers, events, sales, program memberships, stream bookmarks,
sync runs and their skipped records.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "engine_customers",
        sa.Column("source", sa.String(80), primary_key=True),
        sa.Column("external_id", sa.String(64), primary_key=True),
        sa.Column("person_id", sa.Uuid()),
        sa.Column("house_id", sa.Uuid(), sa.ForeignKey("houses.id", name="fk_engine_customers_house_id_houses")),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fields_mac", sa.LargeBinary(32)),
        _ts("first_seen", False),
        _ts("last_seen", False),
    )
    op.create_index("ix_engine_customers_person_id", "engine_customers", ["person_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("house_id", sa.Uuid(), sa.ForeignKey("houses.id", name="fk_events_house_id_houses")),
        sa.Column("title", sa.String(300), nullable=False),
        _ts("starts_at"),
        _ts("ends_at"),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("uit_event_type", sa.String(40)),
        _ts("updated_at", False),
        sa.UniqueConstraint("source", "external_id", name="uq_events_source_external_id"),
    )
    op.create_table(
        "sales",
        sa.Column("source", sa.String(80), primary_key=True),
        sa.Column("external_id", sa.String(64), primary_key=True),
        sa.Column("person_id", sa.Uuid()),
        sa.Column("customer_ref", sa.String(64)),
        sa.Column("house_id", sa.Uuid(), sa.ForeignKey("houses.id", name="fk_sales_house_id_houses"), nullable=False),
        sa.Column("event_id", sa.Uuid(), sa.ForeignKey("events.id", name="fk_sales_event_id_events"), nullable=False),
        sa.Column("order_ref", sa.String(64)),
        sa.Column("ticket_type", sa.String(80)),
        sa.Column("program", sa.String(80)),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("ticket_count", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(16)),
        _ts("sold_at", False),
    )
    op.create_index("ix_sales_person_id", "sales", ["person_id"])
    op.create_index("ix_sales_house_id_sold_at", "sales", ["house_id", "sold_at"])
    op.create_index("ix_sales_event_id", "sales", ["event_id"])
    op.create_index("ix_sales_source_order_ref", "sales", ["source", "order_ref"])
    op.create_index("ix_sales_source_customer_ref", "sales", ["source", "customer_ref"])
    op.create_table(
        "program_memberships",
        sa.Column("source", sa.String(80), primary_key=True),
        sa.Column("external_id", sa.String(64), primary_key=True),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("program", sa.String(80), nullable=False),
        sa.Column(
            "house_id",
            sa.Uuid(),
            sa.ForeignKey("houses.id", name="fk_program_memberships_house_id_houses"),
            nullable=False,
        ),
        _ts("sold_at", False),
        _ts("expires_at"),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_program_memberships_person_id", "program_memberships", ["person_id"])
    op.create_table(
        "connector_state",
        sa.Column("connector", sa.String(80), primary_key=True),
        sa.Column("stream", sa.String(40), primary_key=True),
        sa.Column("partition", sa.String(80), primary_key=True),
        sa.Column("cursor", sa.String(64), nullable=False),
        _ts("updated_at", False),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("connector", sa.String(80), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("started_at", False),
        _ts("heartbeat_at", False),
        _ts("finished_at"),
        _ts("upper_bound"),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_written", sa.Integer(), nullable=False),
        sa.Column("rows_skipped", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("error", sa.Text()),
    )
    op.create_index("ix_sync_runs_connector_started_at", "sync_runs", ["connector", "started_at"])
    op.create_table(
        "sync_skips",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.Uuid(), sa.ForeignKey("sync_runs.id", name="fk_sync_skips_run_id_sync_runs"), nullable=False
        ),
        sa.Column("stream", sa.String(40), nullable=False),
        sa.Column("record_ref", sa.String(120), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        _ts("at", False),
    )
    op.create_index("ix_sync_skips_run_id", "sync_skips", ["run_id"])


def downgrade() -> None:
    for table in ("sync_skips", "sync_runs", "connector_state", "program_memberships", "sales", "events"):
        op.drop_table(table)
    op.drop_table("engine_customers")
