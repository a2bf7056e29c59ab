"""Fast multi-row inserts: COPY on PostgreSQL, executemany on SQLite.

The ORM's bulk insert leaves out keys whose value is None and splits a batch into one statement
per distinct key set; Core executemany and COPY do not. Rows are inserted within the session's
current transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, any_, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

COPY_THRESHOLD = 50  # below this, executemany is as fast and simpler


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    connection = session.connection()
    columns = list(rows[0])
    if connection.dialect.name == "postgresql" and len(rows) >= COPY_THRESHOLD:
        raw = connection.connection.driver_connection
        names = ", ".join(f'"{c}"' for c in columns)
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row([row[c] for c in columns])
        return
    connection.execute(table.insert(), list(rows))


def among(session: Session, column: Any, values: Sequence[Any], sqltype: Any) -> Iterator[ColumnElement[bool]]:
    """``column IN values`` as few statements as possible: one ``= ANY(array)`` on PostgreSQL (one
    parameter, a statement text psycopg can cache), chunks of 900 on SQLite (its variable limit)."""
    values = list(dict.fromkeys(values))
    if not values:
        return
    if session.get_bind().dialect.name == "postgresql":
        yield column == any_(literal(values, ARRAY(sqltype)))
        return
    for start in range(0, len(values), 900):
        yield column.in_(values[start : start + 900])
