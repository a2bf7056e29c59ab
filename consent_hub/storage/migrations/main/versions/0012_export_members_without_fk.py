"""An export's member rows without a foreign key to the export.

The snapshot of a 10,000-member export is one ``INSERT ... SELECT``; PostgreSQL checked the key
once per row (a ``FOR KEY SHARE`` lookup of the export each time): 119 ms of a 316 ms statement at
a million people. The rows are written in the same transaction as their export, by the one
repository method that writes either, and exports are never deleted: like the audit log's
subject index (``audit_subjects``), the table is an append-only index of an immutable record.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

FK = "fk_audience_export_members_export_id_audience_exports"


def upgrade() -> None:
    with op.batch_alter_table("audience_export_members") as batch:
        batch.drop_constraint(FK, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("audience_export_members") as batch:
        batch.create_foreign_key(FK, "audience_exports", ["export_id"], ["id"])
