"""Writers no longer serialise on the audit head (issue 13).

- ``audit_queue``: an audited change's entry, written in the change's own transaction without a
  sequence number or hash; the sequencer (``consent_hub/audit/sequencer.py``) moves queued
  entries onto the chain in batches, one sequencer at a time. Rows are never updated; a row may
  be deleted only once the chain holds an entry made from it (``audit_entries.queue_id``), so a
  queued entry cannot vanish before it is chained.
- ``access_key_bits_dirty``: the access-key trigger no longer rewrites the key's bitmap (one row
  per key, shared by every writer of that key, and a statement that grew with the cluster); it
  marks the key, and ``SegmentBitmaps.refresh`` rebuilds marked keys' bitmaps. A count over a
  marked key uses the SQL statement, as one over a marked (event, house) pair does.
- The ``sales`` trigger and the visit-bitmap refresh meet on an advisory lock of their own instead
  of the audit head.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

MARKS_LOCK = "pg_advisory_xact_lock(hashtext('consent-hub/visit-bits-marks'))"

# UPDATE refused at once; a DELETE checked at commit (a deferred constraint trigger), so that the
# sequencer can take its batch out of the queue and chain it in one transaction, in that order
PG_QUEUE_GUARD = """
CREATE FUNCTION audit_queue_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'audit_queue is append-only';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM audit_entries WHERE queue_id = OLD.id) THEN
        RAISE EXCEPTION 'audit_queue: entry % is not on the chain yet', OLD.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER audit_queue_no_update BEFORE UPDATE ON audit_queue
FOR EACH ROW EXECUTE FUNCTION audit_queue_guard();
CREATE CONSTRAINT TRIGGER audit_queue_chained AFTER DELETE ON audit_queue
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_queue_guard();
CREATE TRIGGER audit_queue_no_truncate BEFORE TRUNCATE ON audit_queue
FOR EACH STATEMENT EXECUTE FUNCTION consent_hub_append_only();
"""

SQLITE_QUEUE_GUARD = (
    "CREATE TRIGGER audit_queue_no_update BEFORE UPDATE ON audit_queue "
    "BEGIN SELECT RAISE(ABORT, 'audit_queue is append-only'); END",
    "CREATE TRIGGER audit_queue_chained_only BEFORE DELETE ON audit_queue "
    "WHEN NOT EXISTS (SELECT 1 FROM audit_entries WHERE queue_id = OLD.id) "
    "BEGIN SELECT RAISE(ABORT, 'audit_queue: entry is not on the chain yet'); END",
)

# the keys whose set of holders changed (an upsert that only moves an expiry changes none)
PG_KEY_MARKS = """
CREATE OR REPLACE FUNCTION access_keys_bits() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO access_key_bits_dirty (key) SELECT DISTINCT key FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO access_key_bits_dirty (key) SELECT DISTINCT key FROM old_rows;
    ELSE
        INSERT INTO access_key_bits_dirty (key) SELECT DISTINCT key FROM (
            (SELECT key, person_id FROM old_rows EXCEPT SELECT key, person_id FROM new_rows)
            UNION ALL
            (SELECT key, person_id FROM new_rows EXCEPT SELECT key, person_id FROM old_rows)) d;
    END IF;
    RETURN NULL;
END $$;
"""

PG_SALES_MARKS = f"""
CREATE OR REPLACE FUNCTION sales_mark_visit_bits() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM {MARKS_LOCK};
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO visit_bits_dirty (event_id, house_id, mark)
        SELECT event_id, house_id, nextval('visit_bits_marks')
        FROM (SELECT DISTINCT event_id, house_id FROM new_rows WHERE person_id IS NOT NULL) n
        ON CONFLICT (event_id, house_id) DO UPDATE SET mark = EXCLUDED.mark;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        INSERT INTO visit_bits_dirty (event_id, house_id, mark)
        SELECT event_id, house_id, nextval('visit_bits_marks')
        FROM (SELECT DISTINCT event_id, house_id FROM old_rows WHERE person_id IS NOT NULL) o
        ON CONFLICT (event_id, house_id) DO UPDATE SET mark = EXCLUDED.mark;
    END IF;
    RETURN NULL;
END $$;
"""  # noqa: S608 - fixed text


def _ts(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "audit_queue",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.Identity(), primary_key=True),
        _ts("at"),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("house", sa.String(40)),
        sa.Column("role", sa.String(40)),
        sa.Column("purpose", sa.String(80)),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("subjects", sa.Text(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    # a plain ADD COLUMN: a batch copy of the table on SQLite would drop its append-only triggers
    op.add_column("audit_entries", sa.Column("queue_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")))
    op.create_index("uq_audit_entries_queue_id", "audit_entries", ["queue_id"], unique=True)
    op.create_table(
        "access_key_bits_dirty",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("key", sa.String(160), nullable=False, index=True),
    )
    if postgres:
        op.execute(PG_QUEUE_GUARD)
        op.execute(PG_KEY_MARKS)
        op.execute(PG_SALES_MARKS)
        op.execute("DROP FUNCTION IF EXISTS access_key_bits_apply(jsonb, integer)")
    else:
        for statement in SQLITE_QUEUE_GUARD:
            op.execute(statement)


# migration 0013's function, which the key trigger of 0014 calls again after a downgrade
PG_APPLY_BITS = """
CREATE FUNCTION access_key_bits_apply(changes jsonb, v integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF v = 1 THEN
        INSERT INTO access_key_bits (key, bits)
        SELECT c.key, CAST('' AS varbit) FROM jsonb_to_recordset(changes) AS c(key text, ordinals integer[])
        ON CONFLICT DO NOTHING;
    END IF;
    UPDATE access_key_bits t SET bits = bits_set(t.bits, c.ordinals, v)
    FROM jsonb_to_recordset(changes) AS c(key text, ordinals integer[])
    WHERE t.key = c.key;
END $$;
"""


def downgrade() -> None:
    bind = op.get_bind()
    if bind.exec_driver_sql("SELECT count(*) FROM audit_queue").scalar_one():
        raise RuntimeError("audit entries are queued: chain them (`consent-hub audit verify`) before downgrading")
    if bind.dialect.name == "postgresql":
        spec = importlib.util.spec_from_file_location("m0014", Path(__file__).with_name("0014_lighter_sync_writes.py"))
        assert spec is not None and spec.loader is not None
        lighter = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(lighter)
        op.execute("DROP TRIGGER IF EXISTS audit_queue_no_update ON audit_queue")
        op.execute("DROP TRIGGER IF EXISTS audit_queue_chained ON audit_queue")
        op.execute("DROP TRIGGER IF EXISTS audit_queue_no_truncate ON audit_queue")
        op.execute("DROP FUNCTION IF EXISTS audit_queue_guard()")
        op.execute(PG_APPLY_BITS)
        op.execute(lighter._bits_trigger(lighter.BY_INDEX))
        op.execute(PG_SALES_MARKS.replace(MARKS_LOCK, "1 FROM audit_head WHERE id = 1 FOR UPDATE"))
        # the bitmaps were rebuilt only for marked keys until now: make every one exact again
        op.execute("DELETE FROM access_key_bits")
        op.execute(
            "INSERT INTO access_key_bits (key, bits) "
            "SELECT k.key, bits_set(CAST('' AS varbit), array_agg(o.ordinal), 1) "
            "FROM access_keys k JOIN person_ordinals o ON o.person_id = k.person_id GROUP BY k.key"
        )
    op.drop_table("access_key_bits_dirty")
    op.drop_table("audit_queue")  # first: its SQLite trigger names audit_entries.queue_id
    op.drop_index("uq_audit_entries_queue_id", table_name="audit_entries")
    op.drop_column("audit_entries", "queue_id")
