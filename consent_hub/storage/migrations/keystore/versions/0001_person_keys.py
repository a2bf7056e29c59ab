"""Key store: wrapped per-person data keys.

Revision ID: k0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "k0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_keys",
        sa.Column("person_id", sa.Uuid(), primary_key=True),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(61), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rewrapped_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_person_keys_kek_version", "person_keys", ["kek_version"])


def downgrade() -> None:
    op.drop_table("person_keys")
