"""Cheaper writes for a sync: ticket lines without foreign keys to houses and events, the
customer-reference index kept for waiting lines only, the access-key bitmap trigger looking
people's ordinals up by index, and the segment bitmaps compressed with lz4.

Ticket lines are most of what a sync writes (500,000 for 100,000 customers). Measured on a copy of
100,000 synced lines (INSERT ... SELECT, PostgreSQL 15): the primary key alone 0.35 s, the two
foreign keys 0.7 s more (a ``FOR KEY SHARE`` lookup of the house and of the event per line), each
secondary index 0.3-0.4 s more. The one writer of ``sales`` (``IngestService``) takes the house and
the event of every line from the ids it has just looked up in the same transaction, and houses and
events are never deleted, so the keys checked nothing the writer had not. The customer reference
is only ever looked up for lines that wait for their customer (``person_id IS NULL``), a few of
them: a partial index costs a line that has its person nothing.

The ``access_keys`` trigger of migration 0013 joined the statement's rows to ``person_ordinals``;
with no statistics on a transition table PostgreSQL hashed the whole of ``person_ordinals`` for
every statement (7.5 ms for 300 rows at 20,000 people, growing with the cluster: a sync writes
keys in every page). Looking each row's ordinal up in the primary key costs 1.3 ms for the same
300 rows, whatever the size of the cluster. What the trigger does is unchanged.

The bitmaps are compressed with lz4 where the server has it, instead of pglz: a key's bitmap is
decompressed and compressed again by every statement that sets its bits (measured on 16 KB
bitmaps, 8 keys a statement: 5.0 ms with pglz, 2.3 ms with lz4); a count decompresses them too.
Values written before keep their compression until they are next written.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

FOREIGN_KEYS = {
    "fk_sales_house_id_houses": ("houses", "house_id"),
    "fk_sales_event_id_events": ("events", "event_id"),
}
WAITING = "person_id IS NULL"


def _bits_trigger(ordinals_of: str) -> str:
    """The ``access_keys`` bitmap trigger function, with ``ordinals_of`` the text that gives
    (key, ordinals) per key of a transition-table query ``{rows}``."""

    def changes(rows: str, target: str) -> str:
        return f"SELECT jsonb_agg(c) INTO {target} FROM ({ordinals_of.format(rows=rows)}) c;"  # noqa: S608 - fixed text

    return f"""
CREATE OR REPLACE FUNCTION access_keys_bits() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    gone jsonb;
    came jsonb;
BEGIN
    PERFORM 1 FROM audit_head WHERE id = 1 FOR UPDATE;
    IF TG_OP = 'INSERT' THEN
        {changes("new_rows", "came")}
    ELSIF TG_OP = 'DELETE' THEN
        {changes("old_rows", "gone")}
    ELSE  -- an upsert that only moves an expiry changes no bit
        {changes("(SELECT key, person_id FROM old_rows EXCEPT SELECT key, person_id FROM new_rows)", "gone")}
        {changes("(SELECT key, person_id FROM new_rows EXCEPT SELECT key, person_id FROM old_rows)", "came")}
    END IF;
    IF gone IS NOT NULL THEN
        PERFORM access_key_bits_apply(gone, 0);
    END IF;
    IF came IS NOT NULL THEN
        PERFORM access_key_bits_apply(came, 1);
    END IF;
    RETURN NULL;
END $$;
"""  # noqa: S608 - fixed text, no input


# each row's ordinal from the primary key (a scalar subquery is never turned into a hash join)
BY_INDEX = (
    "SELECT x.key, array_agg(x.ordinal) AS ordinals FROM ("
    "SELECT r.key, (SELECT o.ordinal FROM person_ordinals o WHERE o.person_id = r.person_id) AS ordinal "
    "FROM {rows} r OFFSET 0) x WHERE x.ordinal IS NOT NULL GROUP BY x.key"
)
# migration 0013's join
BY_JOIN = (
    "SELECT r.key, array_agg(o.ordinal) AS ordinals "
    "FROM {rows} r JOIN person_ordinals o ON o.person_id = r.person_id GROUP BY r.key"
)


BITMAP_COLUMNS = (("access_key_bits", "bits"), ("visit_bits", "bits"))


def _compress_bitmaps_with(method: str) -> None:
    bind = op.get_bind()
    methods = bind.exec_driver_sql(
        "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
    ).scalar_one()
    if method in methods:  # servers built without lz4 keep pglz
        for table, column in BITMAP_COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_bits_trigger(BY_INDEX))
        _compress_bitmaps_with("lz4")
    with op.batch_alter_table("sales") as batch:
        for name in FOREIGN_KEYS:
            batch.drop_constraint(name, type_="foreignkey")
    op.drop_index("ix_sales_source_customer_ref", table_name="sales")
    op.create_index(
        "ix_sales_source_customer_ref",
        "sales",
        ["source", "customer_ref"],
        postgresql_where=sa.text(WAITING),
        sqlite_where=sa.text(WAITING),
    )


def downgrade() -> None:
    op.drop_index("ix_sales_source_customer_ref", table_name="sales")
    op.create_index("ix_sales_source_customer_ref", "sales", ["source", "customer_ref"])
    with op.batch_alter_table("sales") as batch:
        for name, (table, column) in FOREIGN_KEYS.items():
            batch.create_foreign_key(name, table, [column], ["id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_bits_trigger(BY_JOIN))
        _compress_bitmaps_with("pglz")
