"""CHECK constraints on every status column (and the outbox's kind): the database refuses a value
outside the vocabulary (``consent_hub/vocabulary.py``).

The allowed values are written out here, not imported: a migration is history, and a later
member gets its own migration (tests/test_status_vocabulary.py checks the constraints of a
migrated database against the enums).

SQLite cannot add a constraint to a table: each table is rebuilt (batch mode), which drops the
triggers on it. Every trigger is saved first and recreated after all the rebuilds, so the
append-only triggers of ``consent_events`` (whose erasure clause reads ``people``) come back
unchanged; foreign keys into a rebuilt table (``sync_skips`` -> ``sync_runs``) are checked at
commit, once the rebuilt table has its name again.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

CHECKS: dict[str, dict[str, tuple[str, ...]]] = {
    "people": {"status": ("active", "restricted", "erased")},
    "consent_events": {"status": ("granted", "refused", "withdrawn")},
    "consent_states": {"status": ("granted", "refused", "withdrawn")},
    "engine_customers": {"status": ("linked", "suppressed", "deleted")},
    "sync_runs": {"status": ("running", "succeeded", "failed", "interrupted")},
    "outbox": {
        "status": ("pending", "delivered", "dead", "superseded"),
        "kind": ("upsert", "unsubscribe", "erase", "restriction", "restriction-lifted"),
    },
}


def _condition(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


@contextmanager
def _sqlite_triggers_kept() -> Iterator[None]:
    bind = op.get_bind()
    saved = bind.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql IS NOT NULL ORDER BY name"
    ).all()
    bind.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    for name, _ in saved:
        op.execute(f'DROP TRIGGER "{name}"')
    yield
    for _, sql in saved:
        op.execute(sql)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with _sqlite_triggers_kept():
            for table, checks in CHECKS.items():
                with op.batch_alter_table(table, recreate="always") as batch:
                    for column, values in checks.items():
                        batch.create_check_constraint(op.f(f"ck_{table}_{column}"), _condition(column, values))
        return
    for table, checks in CHECKS.items():
        for column, values in checks.items():
            op.create_check_constraint(op.f(f"ck_{table}_{column}"), table, _condition(column, values))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with _sqlite_triggers_kept():
            for table, checks in CHECKS.items():
                with op.batch_alter_table(table, recreate="always") as batch:
                    for column in checks:
                        batch.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
        return
    for table, checks in CHECKS.items():
        for column in checks:
            op.drop_constraint(op.f(f"ck_{table}_{column}"), table, type_="check")
