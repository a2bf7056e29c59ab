"""Relations: person x house (customer, program subscriber), first and last seen.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "relations",
        sa.Column("person_id", sa.Uuid(), primary_key=True),
        sa.Column(
            "house_id", sa.Uuid(), sa.ForeignKey("houses.id", name="fk_relations_house_id_houses"), primary_key=True
        ),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("program", sa.String(80), primary_key=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_relations_house_id_kind", "relations", ["house_id", "kind"])
    op.create_index("ix_consent_states_lookup", "consent_states", ["purpose", "target_kind", "target_ref", "status"])


def downgrade() -> None:
    op.drop_index("ix_consent_states_lookup", "consent_states")
    op.drop_index("ix_relations_house_id_kind", "relations")
    op.drop_table("relations")
