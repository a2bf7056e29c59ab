"""Shown counts under a privacy budget per house and period (issue 11, point 3).

``count_answers`` keeps each protected figure a house was shown, per day, so that asking again
repeats it; ``privacy_budgets`` what each house spent of its budget per calendar month. Neither
holds personal data: figures with their noise and keyed hashes of the questions.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "count_answers",
        sa.Column("house", sa.String(40), primary_key=True),
        sa.Column("question", sa.String(64), primary_key=True),
        sa.Column("period", sa.Date(), primary_key=True),
        sa.Column("noisy", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "privacy_budgets",
        sa.Column("house", sa.String(40), primary_key=True),
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("spent_micro", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("privacy_budgets")
    op.drop_table("count_answers")
