"""Benchmark of the access-log report over a large audit log: wall time and peak memory.

Run from the repository root::

    .venv/bin/python -m bench.bench_reports                          # 1,000,000 entries, SQLite and PostgreSQL
    .venv/bin/python -m bench.bench_reports --entries 100000 --backends sqlite

Each backend gets a fresh cluster in a temporary directory (PostgreSQL databases ``bench_reports_<hex>``
and ``_keys``, dropped at the end). The log is filled directly through the audit chain's own
helpers (``chain_entries``, the repository's insert and head move), in batches, so the chain stays
valid (``verify_chain`` checks it after the report). Entries look like a season of a cluster's
staff reads: most name one person, lookups and exports name more, some name nobody.

The report itself runs as the DPO runs it, ``consent-hub report access-log --cluster bench --out
FILE``, in a child process: its wall time and its peak RSS (``wait4``'s ``ru_maxrss``) are the
figures. Target: peak RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table as RichTable
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from consent_hub.audit import chain
from consent_hub.audit.repository import AuditRepository
from consent_hub.audit.sequencer import chain_entries
from consent_hub.audit.service import verify_chain
from consent_hub.clusters import ClusterRegistry
from consent_hub.config import load_settings, render_config
from consent_hub.keys import create_keyring_file
from consent_hub.storage.db import normalise_url
from consent_hub.storage.migrate import migrate_cluster

CLUSTER = "bench"
RSS_TARGET_MB = 300.0
HOUSES = ("opera-noord", "theater-zuid", "concertzaal-oost", "circus-west")
# (action, role, purpose, fields, how many people it names), weighted like a season's log
SHAPES: tuple[tuple[int, str, str, str, list[str], int], ...] = (
    (60, "person.read", "box-office", "ticketing-service", ["contact", "identity"], 1),
    (15, "person.lookup", "box-office", "ticketing-service", ["contact"], 1),
    (10, "consent.record", "box-office", "newsletter", ["consents"], 1),
    (5, "segment.count", "marketer", "newsletter", [], 0),
    (5, "audience.export", "marketer", "newsletter", ["contact", "identity"], 5),
    (5, "person.read", "analyst", "audience-research", ["demographics"], 2),
)

console = Console(width=None if sys.stdout.isatty() else 130)


@contextmanager
def bench_cluster(backend: str, pg_url: str, workdir: Path) -> Iterator[ClusterRegistry]:
    created: list[str] = []
    if backend == "sqlite":
        database_url = "sqlite:///clusters/bench.db"
    elif backend == "postgresql":
        name = f"bench_reports_{secrets.token_hex(4)}"
        database_url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
        created = [name, f"{name}_keys"]
    else:
        raise SystemExit(f"unknown backend {backend!r} (sqlite, postgresql)")
    (workdir / "hub.toml").write_text(
        render_config(
            {CLUSTER: {"database_url": database_url, "keys": {"provider": "keyring", "path": f"keys/{CLUSTER}.json"}}}
        ),
        encoding="utf-8",
    )
    create_keyring_file(workdir / "keys" / f"{CLUSTER}.json", CLUSTER)
    settings = load_settings(workdir / "hub.toml")
    registry: ClusterRegistry | None = None
    try:
        migrate_cluster(settings, CLUSTER)
        registry = ClusterRegistry(settings)
        yield registry
    finally:
        if registry is not None:
            registry.dispose()
        if created:
            engine = create_engine(normalise_url(pg_url), isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                for db in created:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            engine.dispose()


def entries(n: int, seed: int) -> Iterator[dict[str, Any]]:
    """``n`` fictional entries as the chain's column texts, one second apart over the last months."""
    rng = random.Random(seed)
    people = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(20_000)]
    clients = [(f"client:{uuid.UUID(int=rng.getrandbits(128), version=4)}", rng.choice(HOUSES)) for _ in range(40)]
    weights = [s[0] for s in SHAPES]
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=n + 3600)
    for i in range(n):
        _, action, role, purpose, fields, named = rng.choices(SHAPES, weights)[0]
        actor, house = rng.choice(clients)
        subjects = rng.sample(people, named)
        yield {
            "at": start + dt.timedelta(seconds=i),
            "actor": actor,
            "house": house,
            "role": role,
            "purpose": purpose,
            "action": action,
            "subjects": chain.subjects_text(subjects),
            "fields": chain.fields_text(fields),
            "detail": chain.detail_text({"bases": ["relation"], "policy": "v3"} if named else {"members": 1200}),
        }


def fill(registry: ClusterRegistry, n: int, batch: int, seed: int) -> tuple[float, int]:
    """Append ``n`` entries in chained batches (one transaction each); returns (seconds, subject rows)."""
    tag = chain.chain_tag(CLUSTER)
    started = time.perf_counter()
    source = entries(n, seed)
    subjects_total = 0
    done = 0
    while done < n:
        chunk = [next(source) for _ in range(min(batch, n - done))]
        with registry.unit_of_work(CLUSTER) as uow:
            repo = AuditRepository(uow.session)
            rows, subjects, seq, head = chain_entries(tag, repo.lock_head(), chunk)
            repo.insert_entries(rows, subjects)
            repo.move_head(seq, head)
        done += len(chunk)
        subjects_total += len(subjects)
        if done % (batch * 5) == 0 or done == n:
            console.log(f"  {done:,} entries chained ({time.perf_counter() - started:.0f} s)")
    return time.perf_counter() - started, subjects_total


def peak_rss_kib() -> int:
    """This process's resident high-water mark (VmHWM). ``ru_maxrss`` of a child is no good here:
    Linux carries the parent's high-water mark into a child started by fork or vfork."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux: the best there is


def report_child(argv: list[str], rss_file: Path) -> None:
    """Run the report command as the CLI does, then record this process's peak RSS."""
    from consent_hub.cli import main as cli_main

    sys.argv = ["consent-hub", *argv]
    try:
        cli_main()
    finally:
        rss_file.write_text(str(peak_rss_kib()), encoding="utf-8")


def run_report(workdir: Path, out: Path) -> tuple[float, float, str]:
    """The report command in a fresh child process: (wall seconds, peak RSS in MB, what it printed)."""
    env = {**os.environ, "CONSENT_HUB_CONFIG": str(workdir / "hub.toml")}
    rss_file = workdir / "report.rss"
    command = [
        sys.executable, "-m", "bench.bench_reports", "--child-rss", str(rss_file), "--",
        "report", "access-log", "--cluster", CLUSTER, "--out", str(out),
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=Path.cwd(), capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    printed = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise SystemExit(f"the report failed ({done.returncode}): {printed}")
    return seconds, int(rss_file.read_text(encoding="utf-8")) / 1024, printed


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="consent-hub-bench-") as tmp,
        bench_cluster(backend, args.pg_url, Path(tmp)) as registry,
    ):
        workdir = Path(tmp)
        console.log(f"[{backend}] filling the audit log with {args.entries:,} entries ...")
        fill_s, subject_rows = fill(registry, args.entries, args.batch, args.seed)
        registry.dispose()  # the child opens its own connections; SQLite's file is left alone
        console.log(f"[{backend}] access-log report in a child process ...")
        out = workdir / "access-log.xlsx"
        report_s, peak_mb, printed = run_report(workdir, out)
        console.log(f"[{backend}] {printed}")
        verified = True
        if not args.no_verify:
            with registry.unit_of_work(CLUSTER) as uow:
                verified = verify_chain(uow.session, CLUSTER, uow.rt.keys.audit_public_key()).ok
        rows = int(printed.split(":")[1].split("rows")[0].replace(",", "").strip()) if ":" in printed else 0
        with zipfile.ZipFile(out) as z:  # the sheets, as Excel lists them (no need to read 100 MB)
            sheets = re.findall(r'<sheet [^>]*name="([^"]+)"', z.read("xl/workbook.xml").decode())
        return {
            "backend": backend,
            "entries": args.entries,
            "rows": rows,
            "subject_rows": subject_rows,
            "fill_s": fill_s,
            "report_s": report_s,
            "peak_mb": peak_mb,
            "file_mb": out.stat().st_size / 1e6,
            "verified": verified,
            "sheets": sheets,
        }


def render(results: list[dict[str, Any]]) -> RichTable:
    table = RichTable(title="access-log report", title_justify="left")
    columns = ("backend", "entries", "rows", "report wall", "rows/s", "peak RSS", "target", "", "file", "fill", "chain")
    for col in columns:
        table.add_column(col, justify="left" if col in ("backend", "") else "right")
    for r in results:
        ok = r["peak_mb"] < RSS_TARGET_MB
        table.add_row(
            r["backend"],
            f"{r['entries']:,}",
            f"{r['rows']:,}",
            f"{r['report_s']:.1f} s",
            f"{r['rows'] / r['report_s']:,.0f}",
            f"{r['peak_mb']:.0f} MB",
            f"< {RSS_TARGET_MB:.0f} MB",
            "[green]PASS[/]" if ok else "[red]MISS[/]",
            f"{r['file_mb']:.0f} MB",
            f"{r['fill_s']:.0f} s",
            "verified" if r["verified"] else "[red]BROKEN[/]",
        )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="audit entries (default 1000000)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("CONSENT_HUB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server (a maintenance database on it); bench databases are created and dropped",
    )
    parser.add_argument("--batch", type=int, default=50_000, help="entries chained per transaction (default 50000)")
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--no-verify", action="store_true", help="skip verifying the chain afterwards")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--child-rss", type=Path, help=argparse.SUPPRESS)  # the report's own process
    parser.add_argument("command", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_rss is not None:
        report_child(args.command, args.child_rss)
        return 0
    results = [run_backend(b.strip(), args) for b in args.backends.split(",") if b.strip()]
    console.print(render(results))
    for r in results:
        console.log(f"[{r['backend']}] sheets: {', '.join(r['sheets'])}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    console.log(f"(the filling process itself peaked at {peak_rss_kib() / 1024:.0f} MB; not the report's figure)")
    return 0 if all(r["peak_mb"] < RSS_TARGET_MB and r["verified"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
