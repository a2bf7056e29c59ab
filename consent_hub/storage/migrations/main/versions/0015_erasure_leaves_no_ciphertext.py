"""Erasure leaves no ciphertext of the person in the live cluster database (issue 11, point 5).

Consent events stay append-only, with one narrow exception: the erasure of a person may clear the
three columns of their events that are not proof but hold what the person's identifiers could be
recognised by: ``evidence_ct`` (sealed with their data key, so a key-store backup taken before the
erasure would open it), ``idempotency_key`` (an engine import's key names the engine record) and
``request_hash`` (an unkeyed SHA-256 over the request, evidence included). The trigger allows an
UPDATE only when all three become NULL, every other column stays exactly as it was, and the
person's row already says ``erased``. What was consented to, when, under which notice, through
which channel and by whom (the proof) can still never change, and no event is ever deleted.

This was chosen over moving the evidence to a table of its own that erasure deletes from: the
idempotency key and the request hash would have had to move with it (the whole idempotency
machinery of imports and the HTTP API), while the trigger states the one allowed change in the
one place that guards the table.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# every column that is proof, and so must be identical before and after the one allowed UPDATE
PROOF = (
    "id",
    "person_id",
    "purpose",
    "target_kind",
    "target_ref",
    "status",
    "notice_id",
    "notice_sha256",
    "language",
    "channel",
    "given_at",
    "expires_at",
    "recorded_at",
    "actor",
)
CLEARED = ("evidence_ct", "idempotency_key", "request_hash")


def _pg_function() -> str:
    new = ", ".join(f"NEW.{c}" for c in PROOF)
    old = ", ".join(f"OLD.{c}" for c in PROOF)
    cleared = " AND ".join(f"NEW.{c} IS NULL" for c in CLEARED)
    return f"""
CREATE FUNCTION consent_events_erasure_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND {cleared}
     AND ROW({new}) IS NOT DISTINCT FROM ROW({old})
     AND EXISTS (SELECT 1 FROM people WHERE people.id = OLD.person_id AND people.status = 'erased') THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""  # noqa: S608 - column names from the constants above, no input


def _sqlite_update_trigger() -> str:
    allowed = " AND ".join(
        [f"NEW.{c} IS NULL" for c in CLEARED]
        + [f"NEW.{c} IS OLD.{c}" for c in PROOF]
        + ["EXISTS (SELECT 1 FROM people WHERE people.id = OLD.person_id AND people.status = 'erased')"]
    )
    return (
        "CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events "
        f"WHEN NOT ({allowed}) "
        "BEGIN SELECT RAISE(ABORT, 'table consent_events is append-only'); END"
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(_pg_function())
        op.execute("DROP TRIGGER IF EXISTS consent_events_append_only ON consent_events")
        op.execute(
            "CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON consent_events "
            "FOR EACH ROW EXECUTE FUNCTION consent_events_erasure_only()"
        )
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS consent_events_no_update")
        op.execute(_sqlite_update_trigger())


def downgrade() -> None:
    # back to no UPDATE at all; what erasures cleared stays cleared (it cannot come back)
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS consent_events_append_only ON consent_events")
        op.execute(
            "CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON consent_events "
            "FOR EACH ROW EXECUTE FUNCTION consent_hub_append_only()"
        )
        op.execute("DROP FUNCTION IF EXISTS consent_events_erasure_only()")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS consent_events_no_update")
        op.execute(
            "CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events "
            "BEGIN SELECT RAISE(ABORT, 'table consent_events is append-only'); END"
        )
