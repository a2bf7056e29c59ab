"""Restriction of processing: outbox kinds ``restriction`` and ``restriction-lifted``.

The outbox's ``kind`` and ``sent_as`` were 16 characters, one too few for the longer kind. People
need nothing new: a restricted person is ``people.status = 'restricted'`` (the column is 16
characters already) and the audit log records who restricted them, when and under which reference.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite does not enforce VARCHAR lengths: only PostgreSQL needs the wider columns (and
    # rebuilding the SQLite table for a length it ignores would gain nothing)
    if op.get_bind().dialect.name == "sqlite":
        return
    for column in ("kind", "sent_as"):
        op.alter_column("outbox", column, type_=sa.String(32), existing_type=sa.String(16))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    # deliveries of the new kinds do not fit the old width: they go with the downgrade
    op.execute("DELETE FROM outbox WHERE kind IN ('restriction', 'restriction-lifted')")
    op.execute("UPDATE outbox SET sent_as = 'nothing' WHERE sent_as IN ('restriction', 'restriction-lifted')")
    for column in ("kind", "sent_as"):
        op.alter_column("outbox", column, type_=sa.String(16), existing_type=sa.String(32))
