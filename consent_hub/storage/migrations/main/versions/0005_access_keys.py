"""Access keys: a narrow, indexed copy of who is reachable through which basis (fast counts).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_keys",
        sa.Column("key", sa.String(160), primary_key=True),
        sa.Column("person_id", sa.Uuid(), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
    )
    # covers the counts (key = ?, expiry filter, person id) so they never read the table itself
    op.create_index("ix_access_keys_key_expires_at_person_id", "access_keys", ["key", "expires_at", "person_id"])
    # backfill from what exists (a house id is keyed as 32 hex digits, as SQLite stores it)
    house_hex = "replace(CAST(house_id AS TEXT), '-', '')" if op.get_bind().dialect.name == "postgresql" else "house_id"
    op.execute(
        "INSERT INTO access_keys (key, person_id, expires_at) "  # noqa: S608 - fixed text, no input
        f"SELECT DISTINCT CASE WHEN kind = 'customer' THEN 'c:' ELSE 's:' END || {house_hex}, person_id, "
        "CAST(NULL AS TIMESTAMP) FROM relations"
    )
    op.execute(
        "INSERT INTO access_keys (key, person_id, expires_at) "
        "SELECT CASE WHEN target_kind = 'house' THEN 'h:' || target_ref || ':' || purpose ELSE 'k:' || purpose END, "
        "person_id, expires_at FROM consent_states WHERE status = 'granted'"
    )


def downgrade() -> None:
    op.drop_index("ix_access_keys_key_expires_at_person_id", "access_keys")
    op.drop_table("access_keys")
