"""Segment bitmaps (PostgreSQL): counts of event-level segments from bit operations.

Every person gets a dense ordinal (``person_ordinals``). For each (event, house) a bitmap marks
the people with net-positive tickets to it (``visit_bits``), refreshed from ``sales`` for the
pairs that ``visit_bits_dirty`` lists; a trigger on ``sales`` lists them. For each access key a
bitmap marks the people holding it (``access_key_bits``), kept exact by triggers on
``access_keys`` in the same transaction as the key. A count is then a handful of bitwise
operations over bitmaps instead of a join of every matching ticket line with every visible
person (see ``consent_hub/audiences/bitmaps.py``).

SQLite gets the tables (so that both backends share one schema) but neither triggers nor
functions: the embedded hub counts with the SQL statement.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# bitmaps grow in steps of this many bits, so that a new person rarely resizes them
FUNCTIONS = """
CREATE FUNCTION bits_capacity() RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT ((coalesce(max(ordinal), 0) / 65536) + 1) * 65536 FROM person_ordinals $$;

CREATE FUNCTION bits_fit(b varbit, n integer) RETURNS varbit LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN b IS NULL OR length(b) = 0 THEN CAST(repeat('0', n) AS varbit)
        WHEN length(b) >= n THEN b
        ELSE b || CAST(repeat('0', n - length(b)) AS varbit)
    END $$;

CREATE FUNCTION bits_set(b varbit, ordinals integer[], v integer) RETURNS varbit
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    o integer;
    top integer;
BEGIN
    SELECT max(x) INTO top FROM unnest(ordinals) x;
    IF top IS NULL THEN
        RETURN b;
    END IF;
    b := bits_fit(b, greatest(coalesce(length(b), 0), ((top / 65536) + 1) * 65536));
    FOREACH o IN ARRAY ordinals LOOP
        b := set_bit(b, o, v);
    END LOOP;
    RETURN b;
END $$;

-- c[i] = the people with at least i of the bitmaps seen so far (i = 1 .. k)
CREATE FUNCTION bits_at_least_step(c varbit[], b varbit, k integer) RETURNS varbit[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    i integer;
BEGIN
    IF c IS NULL THEN
        c := array_fill(b # b, ARRAY[k]);
    END IF;
    FOR i IN REVERSE k..2 LOOP
        c[i] := c[i] | (c[i - 1] & b);
    END LOOP;
    c[1] := c[1] | b;
    RETURN c;
END $$;

CREATE FUNCTION bits_at_least_final(c varbit[]) RETURNS varbit LANGUAGE sql IMMUTABLE AS $$
    SELECT c[array_length(c, 1)] $$;

CREATE AGGREGATE bits_at_least(varbit, integer) (
    SFUNC = bits_at_least_step, STYPE = varbit[], FINALFUNC = bits_at_least_final
);

CREATE FUNCTION person_ordinals_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO person_ordinals (person_id)
    SELECT id FROM new_rows ORDER BY id ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER people_ordinals AFTER INSERT ON people
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION person_ordinals_add();

-- (key, ordinals) pairs: set or clear those bits of the key's bitmap (the key row made if missing)
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

-- set the bits of (key, person) rows that appear, clear those of rows that disappear. One bitmap
-- row per key is shared by every writer of that key, so the trigger first takes the audit head
-- (the lock every audited change takes anyway): writers meet the two in one order, never crosswise.
CREATE FUNCTION access_keys_bits() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    gone jsonb;
    came jsonb;
BEGIN
    PERFORM 1 FROM audit_head WHERE id = 1 FOR UPDATE;
    IF TG_OP = 'INSERT' THEN
        SELECT jsonb_agg(c) INTO came FROM (
            SELECT n.key, array_agg(o.ordinal) AS ordinals
            FROM new_rows n JOIN person_ordinals o ON o.person_id = n.person_id GROUP BY n.key) c;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT jsonb_agg(c) INTO gone FROM (
            SELECT d.key, array_agg(o.ordinal) AS ordinals
            FROM old_rows d JOIN person_ordinals o ON o.person_id = d.person_id GROUP BY d.key) c;
    ELSE  -- an upsert that only moves an expiry changes no bit
        SELECT jsonb_agg(c) INTO gone FROM (
            SELECT d.key, array_agg(o.ordinal) AS ordinals
            FROM (SELECT key, person_id FROM old_rows EXCEPT SELECT key, person_id FROM new_rows) d
            JOIN person_ordinals o ON o.person_id = d.person_id GROUP BY d.key) c;
        SELECT jsonb_agg(c) INTO came FROM (
            SELECT n.key, array_agg(o.ordinal) AS ordinals
            FROM (SELECT key, person_id FROM new_rows EXCEPT SELECT key, person_id FROM old_rows) n
            JOIN person_ordinals o ON o.person_id = n.person_id GROUP BY n.key) c;
    END IF;
    IF gone IS NOT NULL THEN
        PERFORM access_key_bits_apply(gone, 0);
    END IF;
    IF came IS NOT NULL THEN
        PERFORM access_key_bits_apply(came, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER access_keys_bits_insert AFTER INSERT ON access_keys
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION access_keys_bits();
CREATE TRIGGER access_keys_bits_update AFTER UPDATE ON access_keys
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION access_keys_bits();
CREATE TRIGGER access_keys_bits_delete AFTER DELETE ON access_keys
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION access_keys_bits();

CREATE SEQUENCE visit_bits_marks;

-- a changed ticket line makes its (event, house) bitmap stale until the next refresh (the audit
-- head first, as above: the refresh takes it too before it deletes marks)
CREATE FUNCTION sales_mark_visit_bits() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM audit_head WHERE id = 1 FOR UPDATE;
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

CREATE TRIGGER sales_visit_bits_insert AFTER INSERT ON sales
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_mark_visit_bits();
CREATE TRIGGER sales_visit_bits_update AFTER UPDATE ON sales
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_mark_visit_bits();
CREATE TRIGGER sales_visit_bits_delete AFTER DELETE ON sales
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_mark_visit_bits();
"""


class VarBit(sa.types.UserDefinedType):  # type: ignore[type-arg]
    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "VARBIT"


DROP = """
DROP TRIGGER IF EXISTS sales_visit_bits_insert ON sales;
DROP TRIGGER IF EXISTS sales_visit_bits_update ON sales;
DROP TRIGGER IF EXISTS sales_visit_bits_delete ON sales;
DROP FUNCTION IF EXISTS sales_mark_visit_bits();
DROP SEQUENCE IF EXISTS visit_bits_marks;
DROP TRIGGER IF EXISTS access_keys_bits_insert ON access_keys;
DROP TRIGGER IF EXISTS access_keys_bits_update ON access_keys;
DROP TRIGGER IF EXISTS access_keys_bits_delete ON access_keys;
DROP FUNCTION IF EXISTS access_keys_bits();
DROP FUNCTION IF EXISTS access_key_bits_apply(jsonb, integer);
DROP TRIGGER IF EXISTS people_ordinals ON people;
DROP FUNCTION IF EXISTS person_ordinals_add();
DROP AGGREGATE IF EXISTS bits_at_least(varbit, integer);
DROP FUNCTION IF EXISTS bits_at_least_final(varbit[]);
DROP FUNCTION IF EXISTS bits_at_least_step(varbit[], varbit, integer);
DROP FUNCTION IF EXISTS bits_set(varbit, integer[], integer);
DROP FUNCTION IF EXISTS bits_fit(varbit, integer);
DROP FUNCTION IF EXISTS bits_capacity();
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "person_ordinals",
        sa.Column("person_id", sa.Uuid(), primary_key=True),
        sa.Column("ordinal", sa.Integer(), sa.Identity(start=0, minvalue=0), nullable=False),
        sa.UniqueConstraint("ordinal", name="uq_person_ordinals_ordinal"),
    )
    bits = VarBit()
    op.create_table(
        "access_key_bits",
        sa.Column("key", sa.String(160), primary_key=True),
        sa.Column("bits", bits, nullable=False),
    )
    op.create_table(
        "visit_bits",
        sa.Column("event_id", sa.Uuid(), primary_key=True),
        sa.Column("house_id", sa.Uuid(), primary_key=True),
        sa.Column("bits", bits, nullable=False),
    )
    op.create_table(
        "visit_bits_dirty",
        sa.Column("event_id", sa.Uuid(), primary_key=True),
        sa.Column("house_id", sa.Uuid(), primary_key=True),
        sa.Column("mark", sa.BigInteger(), nullable=False),
    )
    if not postgres:
        return
    op.execute("INSERT INTO person_ordinals (person_id) SELECT id FROM people ORDER BY id")
    op.execute(FUNCTIONS)
    # the bitmaps of the keys and visits already there
    op.execute(
        "INSERT INTO access_key_bits (key, bits) "
        "SELECT k.key, bits_set(CAST('' AS varbit), array_agg(o.ordinal), 1) "
        "FROM access_keys k JOIN person_ordinals o ON o.person_id = k.person_id GROUP BY k.key"
    )
    op.execute(
        "INSERT INTO visit_bits_dirty (event_id, house_id, mark) "
        "SELECT event_id, house_id, nextval('visit_bits_marks') FROM "
        "(SELECT DISTINCT event_id, house_id FROM sales WHERE person_id IS NOT NULL) s"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP)
    for table in ("visit_bits_dirty", "visit_bits", "access_key_bits", "person_ordinals"):
        op.drop_table(table)
