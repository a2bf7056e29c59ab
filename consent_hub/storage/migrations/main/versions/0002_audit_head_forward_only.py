"""The audit head only moves forward.

Without this a plain UPDATE could move the head back and hide entries written after it, or an
INSERT beyond the head could append forged entries; `audit verify` names both, and the database
now refuses the first.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION consent_hub_head_forward_only() RETURNS trigger AS $$
BEGIN
  IF NEW.seq < OLD.seq OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash) OR NEW.id <> OLD.id THEN
    RAISE EXCEPTION 'the audit head only moves forward' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head "
            "FOR EACH ROW EXECUTE FUNCTION consent_hub_head_forward_only()"
        )
    elif dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head "
            "WHEN NEW.seq < OLD.seq OR (NEW.seq = OLD.seq AND NEW.hash != OLD.hash) OR NEW.id != OLD.id "
            "BEGIN SELECT RAISE(ABORT, 'the audit head only moves forward'); END"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_head_forward_only ON audit_head")
        op.execute("DROP FUNCTION IF EXISTS consent_hub_head_forward_only()")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_head_forward_only")
