"""Audiences: saved segments and audited export snapshots.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("house", sa.String(40), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("purpose", sa.String(80), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("house", "name", name="uq_segments_house_name"),
    )
    op.create_table(
        "audience_exports",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("segment_id", sa.Uuid()),
        sa.Column("house", sa.String(40), nullable=False),
        sa.Column("purpose", sa.String(80), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("destination", sa.String(80), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "audience_export_members",
        sa.Column(
            "export_id",
            sa.Uuid(),
            sa.ForeignKey("audience_exports.id", name="fk_audience_export_members_export_id_audience_exports"),
            primary_key=True,
        ),
        sa.Column("person_id", sa.Uuid(), primary_key=True),
        sa.Column("consent_event_id", sa.Uuid()),
    )


def downgrade() -> None:
    op.drop_table("audience_export_members")
    op.drop_table("audience_exports")
    op.drop_table("segments")
