"""Coarse keyed indexes of language and postal area, for audience filters.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # filled for people created or updated from now on; `consent-hub people reindex` fills older rows
    op.add_column("people", sa.Column("language_bidx", sa.LargeBinary(32)))
    op.add_column("people", sa.Column("postal_area_bidx", sa.LargeBinary(32)))


def downgrade() -> None:
    op.drop_column("people", "postal_area_bidx")
    op.drop_column("people", "language_bidx")
