"""Engines for cluster databases: SQLite (embedded default, WAL) and PostgreSQL (production)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    # a database error names the statement, never its values: the scheduler and the outbox loop log
    # tracebacks, and a parameter may be a person's ciphertext, blind index or an engine's record
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _sqlite_pragmas(engine)
        return engine
    # No ping before each checkout: it is a round trip and about 1 ms of CPU per request, as much
    # as a whole consent write's statements. A connection the server dropped fails the one
    # statement that meets it; SQLAlchemy then discards the pool's older connections (optimistic
    # disconnect handling), and connections are renewed every half hour anyway.
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("pool_recycle", 1800)
    # timestamps come back in UTC, as the audit chain encodes them
    kwargs.setdefault("connect_args", {"options": "-c timezone=UTC"})
    return create_engine(url, **kwargs)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, issue BEGIN, so we can make it BEGIN IMMEDIATE: writers
        # then serialise on the database lock up front instead of failing on lock upgrade, which
        # keeps the audit chain's read-head-then-append atomic across processes.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # fewer, larger WAL checkpoints: a checkpoint's fsync otherwise lands on every few commits
        cur.execute("PRAGMA wal_autocheckpoint=10000")
        # SQLite's default page cache is 2 MB: random blind-index keys then miss it on every insert
        cur.execute("PRAGMA cache_size=-131072")
        cur.close()

    # Writers of one process queue on a mutex before BEGIN IMMEDIATE, and the commit hands it to
    # the next at once. Without it, threads waiting for the database lock sleep in SQLite's busy
    # handler (1, 2, 5 ... 100 ms steps) and wake late: fewer writes a second and tails of seconds.
    # Other processes still meet on the database lock and its busy timeout.
    writer = threading.Lock()
    holders: set[int] = set()  # the DBAPI connections holding it (a request's transaction may
    # begin, run and commit in three different worker threads: the holder is the connection)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if not writer.acquire(timeout=30):
            raise sqlite3.OperationalError("database is locked (another writer of this process held it for 30 s)")
        dbapi_connection = conn.connection.dbapi_connection
        holders.add(id(dbapi_connection))
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(dbapi_connection)
            raise

    def _release(connection: Any) -> None:
        # SQLAlchemy passes the pool's proxy of the connection here, the raw one at begin
        key = id(getattr(connection, "dbapi_connection", connection))
        if key in holders:
            holders.discard(key)
            writer.release()

    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        try:
            commit(dbapi_connection)
        finally:
            _release(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            rollback(dbapi_connection)
        finally:
            _release(dbapi_connection)

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
