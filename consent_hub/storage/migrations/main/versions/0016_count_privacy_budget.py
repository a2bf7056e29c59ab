"""Shown counts under a privacy budget per house and period (issue 11, point 3).

Placeholder reserved for that change; filled in by the same change.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
