"""Benchmark of the core vault: encrypted bulk create, plaintext baseline, decrypt, audit, verify.

Run from the repository root::

    .venv/bin/python -m bench.bench_vault                       # full size, SQLite and PostgreSQL
    .venv/bin/python -m bench.bench_vault --people 20000 --backends sqlite

Every backend gets a fresh cluster (hub.toml, keyring, migrated databases) in a temporary
directory; PostgreSQL databases are named ``bench_vault_<hex>`` (plus ``_keys``) and
``bench_plain_<hex>``, and are dropped at the end (``BENCH_KEEP_DATABASES=1`` keeps them, for a look
at plans with psql; the log names them). The people are generated before any timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table as RichTable
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    create_engine,
    insert,
    text,
)
from sqlalchemy.engine import make_url

from bench.generate import people as generate_people
from consent_hub.actors import Actor
from consent_hub.audit.service import AuditLog, AuditRecord, verify_chain
from consent_hub.clusters import ClusterRegistry
from consent_hub.config import load_settings, render_config
from consent_hub.keys import create_keyring_file
from consent_hub.people.fields import PERSON_FIELDS, validate_fields
from consent_hub.people.service import PeopleService
from consent_hub.storage.db import make_engine, normalise_url
from consent_hub.storage.migrate import migrate_cluster

CLUSTER = "bench"
PHONE_REGION = "BE"

# target per metric: (kind, threshold); "min" = figure must be >= threshold, "max" = <=
CREATE_TARGET = {"sqlite": 25_000.0, "postgresql": 15_000.0}
RATIO_TARGET = 2.0
DECRYPT_TARGET_MS = 150.0
AUDIT_TARGET = 20_000.0
VERIFY_TARGET = 200_000.0

# wide enough for the table when the output goes to a file or pipe
console = Console(width=None if sys.stdout.isatty() else 130)


@dataclass
class Row:
    metric: str
    value: float
    unit: str
    target: float | None = None
    kind: str = "min"  # "min": higher is better, "max": lower is better
    note: str = ""

    @property
    def status(self) -> str:
        if self.target is None:
            return ""
        ok = self.value >= self.target if self.kind == "min" else self.value <= self.target
        return "PASS" if ok else "MISS"

    def target_text(self) -> str:
        if self.target is None:
            return "-"
        sign = ">=" if self.kind == "min" else "<="
        return f"{sign} {fmt(self.target, self.unit)}"


@dataclass
class BackendResult:
    backend: str
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0


def fmt(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "ms":
        return f"{value:,.0f} ms" if value >= 100 else f"{value:,.1f} ms"
    if unit == "µs/row":
        return f"{value:,.1f} µs/row"
    if unit == "s":
        return f"{value:,.1f} s"
    return f"{value:,.0f} {unit}"


def batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- the plaintext baseline ----------------------------------------------------------------------
def plain_table(metadata: MetaData) -> Table:
    """The people table with the personal fields as plain text; same keys and indexes otherwise."""
    table = Table(
        "people_plain",
        metadata,
        Column("id", Uuid(), primary_key=True),
        Column("status", String(16), nullable=False),
        *(Column(name, Text()) for name in PERSON_FIELDS),
        Column("row_version", Integer(), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )
    Index("ux_people_plain_email", table.c.email, unique=True)
    Index("ix_people_plain_phone", table.c.phone)
    Index("ix_people_plain_status", table.c.status)
    return table


def bench_plaintext(engine: Engine, data: Sequence[dict[str, Any]], batch: int) -> tuple[float, float]:
    """Validate and insert ``data`` in plaintext, one transaction per batch.

    Returns (total seconds, seconds of which spent in validate_fields)."""
    metadata = MetaData()
    table = plain_table(metadata)
    metadata.create_all(engine)
    stmt = insert(table)
    validating = 0.0
    started = time.perf_counter()
    for offset, chunk in zip(range(0, len(data), batch), batches(data, batch), strict=True):
        v0 = time.perf_counter()
        values = [validate_fields(d, phone_region=PHONE_REGION, row=offset + i) for i, d in enumerate(chunk)]
        validating += time.perf_counter() - v0
        now = dt.datetime.now(dt.UTC)
        rows = []
        for v in values:
            row: dict[str, Any] = dict.fromkeys(PERSON_FIELDS)
            row.update(v.present())
            row.update(id=uuid.uuid4(), status="active", row_version=1, created_at=now, updated_at=now)
            rows.append(row)
        with engine.begin() as conn:
            conn.execute(stmt, rows)
    return time.perf_counter() - started, validating


# -- cluster setup -------------------------------------------------------------------------------
@contextmanager
def cluster(backend: str, pg_url: str, workdir: Path) -> Iterator[tuple[ClusterRegistry, Engine]]:
    """A migrated bench cluster and an engine on a separate database for the plaintext table."""
    suffix = secrets.token_hex(4)
    created_pg: list[str] = []
    if backend == "sqlite":
        database_url = "sqlite:///clusters/bench.db"
        plain_url = f"sqlite:///{workdir / 'plain' / 'plain.db'}"
    elif backend == "postgresql":
        base = make_url(pg_url)
        main_db, plain_db = f"bench_vault_{suffix}", f"bench_plain_{suffix}"
        database_url = base.set(database=main_db).render_as_string(hide_password=False)
        plain_url = base.set(database=plain_db).render_as_string(hide_password=False)
        created_pg = [main_db, f"{main_db}_keys", plain_db]
    else:
        raise SystemExit(f"unknown backend {backend!r} (sqlite, postgresql)")

    (workdir / "hub.toml").write_text(
        render_config(
            {
                CLUSTER: {
                    "database_url": database_url,
                    "keys": {"provider": "keyring", "path": f"keys/{CLUSTER}.json"},
                },
            }
        )
    )
    create_keyring_file(workdir / "keys" / f"{CLUSTER}.json", CLUSTER)
    settings = load_settings(workdir / "hub.toml")
    registry: ClusterRegistry | None = None
    plain: Engine | None = None
    try:
        migrate_cluster(settings, CLUSTER)
        if backend == "postgresql":
            with _admin(pg_url) as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{created_pg[2]}"')
        registry = ClusterRegistry(settings)
        plain = make_engine(plain_url)
        yield registry, plain
    finally:
        if registry is not None:
            registry.dispose()
        if plain is not None:
            plain.dispose()
        if created_pg and os.environ.get("BENCH_KEEP_DATABASES") == "1":
            console.log(f"kept for a look: {', '.join(created_pg)} (drop them when done)")
        elif created_pg:
            with _admin(pg_url) as conn:
                for name in created_pg:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _admin(pg_url: str) -> Iterator[Any]:
    engine = create_engine(normalise_url(pg_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


# -- one backend ---------------------------------------------------------------------------------
def run_backend(backend: str, args: argparse.Namespace, data: Sequence[dict[str, Any]]) -> BackendResult:
    result = BackendResult(backend)
    rows = result.rows
    rng = random.Random(args.seed + 1)
    actor = Actor.cli(CLUSTER)
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="consent-hub-bench-") as tmp,
        cluster(backend, args.pg_url, Path(tmp)) as (registry, plain),
    ):
        n = len(data)

        # warm-up outside the timings: imports, key loading, phone metadata, statement caches
        with registry.unit_of_work(CLUSTER) as uow:
            _ = uow.rt.keys, uow.rt.indexer
            uow.session.execute(text("SELECT 1"))
        for d in data[:50]:
            validate_fields(d, phone_region=PHONE_REGION)

        # 2. plaintext baseline (same validation, same batches, separate database)
        console.log(f"[{backend}] plaintext insert of {n:,} people ...")
        plain_s, validate_s = bench_plaintext(plain, data, args.batch)

        # 1. encrypted bulk create through the service
        console.log(f"[{backend}] encrypted bulk_create of {n:,} people ...")
        created: list[uuid.UUID] = []
        t0 = time.perf_counter()
        for chunk in batches(data, args.batch):
            with registry.unit_of_work(CLUSTER) as uow:
                res = PeopleService(uow).bulk_create(actor, chunk)
            created.extend(res.created)
        create_s = time.perf_counter() - t0
        if len(created) != n:
            raise SystemExit(f"[{backend}] created {len(created)} of {n} people (duplicates?)")

        rows.append(
            Row(
                "bulk create, encrypted",
                n / create_s,
                "people/s",
                CREATE_TARGET[backend],
                note=f"{create_s:.1f} s, {args.batch:,}/txn",
            )
        )
        rows.append(
            Row(
                "plaintext insert (validate + insert)",
                n / plain_s,
                "people/s",
                note=f"{plain_s:.1f} s, of which validation {validate_s:.1f} s",
            )
        )
        rows.append(
            Row("  validate_fields alone", validate_s / n * 1e6, "µs/row", note=f"{n / validate_s:,.0f} rows/s ceiling")
        )
        rows.append(Row("encrypted / plaintext time", create_s / plain_s, "x", RATIO_TARGET, "max"))

        # 3. decrypt: one read of random people, whole unit of work (incl. its audit commit)
        k = min(args.decrypt, len(created))
        if k:
            ids = rng.sample(created, k)
            console.log(f"[{backend}] read/decrypt {k:,} people ...")
            t0 = time.perf_counter()
            with registry.unit_of_work(CLUSTER) as uow:
                t1 = time.perf_counter()
                views = PeopleService(uow).read(actor, ids, purpose=CLUSTER)
                call_ms = (time.perf_counter() - t1) * 1000
            read_ms = (time.perf_counter() - t0) * 1000
            if len(views) != k:
                raise SystemExit(f"[{backend}] read returned {len(views)} of {k} people")
            rows.append(
                Row(
                    f"decrypt {k:,} people (one read)",
                    read_ms,
                    "ms",
                    DECRYPT_TARGET_MS if k == 10_000 else None,
                    "max",
                    note=f"{read_ms * 1000 / k:.1f} µs/person; read() {call_ms:,.0f} ms"
                    f" + commit {read_ms - call_ms:,.0f} ms",
                )
            )

        # 4. audit appends, two transaction sizes
        for per_txn in (100, 1000):
            total = args.audit - args.audit % per_txn
            if not total:
                continue
            records = [
                AuditRecord(
                    "bench.event", subjects=[created[rng.randrange(n)]] if n else [], fields=["email"], purpose=CLUSTER
                )
                for _ in range(total)
            ]
            console.log(f"[{backend}] audit append {total:,} entries, {per_txn}/txn ...")
            t0 = time.perf_counter()
            for chunk in batches(records, per_txn):
                with registry.unit_of_work(CLUSTER) as uow:
                    AuditLog(uow.session, CLUSTER).append(actor, *chunk)
            audit_s = time.perf_counter() - t0
            rows.append(
                Row(
                    f"audit append, {per_txn:,}/txn",
                    total / audit_s,
                    "entries/s",
                    AUDIT_TARGET,
                    note=f"{total:,} in {audit_s:.1f} s",
                )
            )

        # 5. verify the whole chain
        console.log(f"[{backend}] verify chain ...")
        t0 = time.perf_counter()
        with registry.unit_of_work(CLUSTER) as uow:
            report = verify_chain(uow.session, CLUSTER, uow.rt.keys.audit_public_key())
        verify_s = time.perf_counter() - t0
        if not report.ok:
            raise SystemExit(f"[{backend}] chain does not verify: {report.problem}")
        rows.append(
            Row(
                "verify chain",
                report.entries / report.seconds,
                "entries/s",
                VERIFY_TARGET,
                note=f"{report.entries:,} entries in {report.seconds:.2f} s (unit of work: {verify_s:.2f} s)",
            )
        )
    result.seconds = time.perf_counter() - started
    return result


def render(result: BackendResult) -> RichTable:
    table = RichTable(title=f"core vault — {result.backend} ({result.seconds:.0f} s)", title_justify="left")
    table.add_column("metric")
    table.add_column("result", justify="right")
    table.add_column("target", justify="right")
    table.add_column("", justify="center")
    table.add_column("notes")
    for row in result.rows:
        status = {"PASS": "[green]PASS[/]", "MISS": "[red]MISS[/]"}.get(row.status, "")
        table.add_row(row.metric, fmt(row.value, row.unit), row.target_text(), status, row.note)
    return table


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS)
    raw = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return raw / (1024 * 1024) if sys.platform == "darwin" else raw / 1024


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--people", type=int, default=200_000, help="people to create (default 200000)")
    parser.add_argument("--decrypt", type=int, default=10_000, help="people to read in one call (default 10000)")
    parser.add_argument(
        "--audit",
        type=int,
        default=200_000,
        help="audit entries per transaction size (default 200000, appended twice: 100/txn and 1000/txn)",
    )
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server (a maintenance database on it); bench databases are created and dropped",
    )
    parser.add_argument("--batch", type=int, default=5_000, help="rows per unit of work for creates (default 5000)")
    parser.add_argument("--seed", type=int, default=20261128, help="generator seed")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]

    console.log(f"generating {args.people:,} fictional people (seed {args.seed}) ...")
    t0 = time.perf_counter()
    data = generate_people(args.people, args.seed)
    console.log(f"generated in {time.perf_counter() - t0:.1f} s (not timed below)")

    results = []
    for backend in backends:
        result = run_backend(backend, args, data)
        results.append(result)
        console.print(render(result))

    if len(results) > 1:
        summary = RichTable(title="summary", title_justify="left")
        summary.add_column("metric")
        summary.add_column("target")
        for r in results:
            summary.add_column(r.backend, justify="right")
        for i, row in enumerate(results[0].rows):
            cells = []
            targets = []
            for r in results:
                other = r.rows[i]
                mark = {"PASS": " [green]PASS[/]", "MISS": " [red]MISS[/]"}.get(other.status, "")
                cells.append(fmt(other.value, other.unit) + mark)
                targets.append(other.target_text())
            target = targets[0] if len(set(targets)) == 1 else " / ".join(targets)
            summary.add_row(row.metric, target, *cells)
        console.print(summary)
    console.print(f"peak RSS: {peak_rss_mib():,.0f} MiB")
    misses = sum(row.status == "MISS" for r in results for row in r.rows)
    console.print(f"{misses} target(s) missed" if misses else "all targets met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
