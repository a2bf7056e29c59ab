"""Writes at the database's speed (issue 13): the hub served by `consent-hub serve` in its own
process(es), loaded over loopback by a bounded client, beside `pgbench -N` on the same server.

Run from the repository root::

    .venv/bin/python -m bench.bench_load                       # make bench: PostgreSQL and SQLite, 1 and 2 workers
    .venv/bin/python -m bench.bench_load --backends postgresql --workers 1 --seconds 3

A fresh bench cluster (``bench.bench_vault.cluster``) gets two houses, ``--people`` buyers who are
customers of house A, a pool of buyers to erase, a cluster-service key (writes, erasure) and a
box-office key of house A (lookups). Per backend and worker count the server is started once with
`consent-hub serve --workers N`; each scenario then runs at 1, 8 and 32 clients for ``--seconds``
after a short warm-up:

- ``consent``: ``POST /v1/people/{id}/consents`` on an existing person (newsletter at house A,
  granted and withdrawn in turn, an Idempotency-Key per request; each client its own people);
- ``new-person``: ``POST /v1/people`` then the first consent of the new person (one step, two
  requests);
- ``lookup``: ``POST /v1/people/lookup`` by e-mail of a visible buyer (box office, house A);
- ``erasure``: ``POST /v1/people/{id}/erase`` of a person nobody erased yet.

Reported per cell: steps/s, p50/p95/p99 of a step, CPU of the hub's processes and of every
PostgreSQL process per step (so the PostgreSQL figure includes whatever else the server ran), and
the peak RSS of a hub process. ``audit verify`` runs after each server's scenarios and must pass.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bench.bench_vault import CLUSTER, cluster, console
from bench.load_client import LoadResult, Request, Step, run_load
from consent_hub import roles
from consent_hub.access.service import RelationService
from consent_hub.actors import Actor
from consent_hub.clients.service import ClientService
from consent_hub.consent.service import ConsentService
from consent_hub.houses.service import HouseService
from consent_hub.people.service import PeopleService
from consent_hub.storage.db import normalise_url

HUB = [sys.executable, "-m", "consent_hub.cli"]
CLIENTS = (1, 8, 32)
SCENARIOS = ("consent", "new-person", "lookup", "erasure")


@dataclass
class Seeded:
    writer_key: str
    reader_key: str
    people: list[str]  # ids of buyers of house A
    emails: list[str]
    to_erase: list[str]
    notice_sha: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(registry: Any, people: int, erasable: int) -> Seeded:
    operator = Actor.cli(CLUSTER)
    expires = dt.date.today() + dt.timedelta(days=2)
    with registry.unit_of_work(CLUSTER) as uow:
        for slug in ("huis-a", "huis-b"):
            HouseService(uow).add(operator, {"slug": slug, "name": slug})
        clients = ClientService(uow)
        writer = clients.add(
            operator, {"name": "bench service", "role": roles.CLUSTER_SERVICE, "agreement": "BENCH", "expires": expires}
        ).api_key
        reader = clients.add(
            operator,
            {
                "name": "bench box office",
                "role": roles.BOX_OFFICE,
                "house": "huis-a",
                "agreement": "BENCH",
                "expires": expires,
            },
        ).api_key
        ConsentService(uow).sync_notices(operator)
        notice = ConsentService(uow).current_notice("newsletter", "nl")
    rows = [
        {"given_name": f"Last{i}", "family_name": "Koper", "email": f"load.koper.{i}@example.org"}
        for i in range(people + erasable)
    ]
    ids: list[str] = []
    for start in range(0, len(rows), 5000):
        with registry.unit_of_work(CLUSTER) as uow:
            created = PeopleService(uow).bulk_create(operator, rows[start : start + 5000]).created
            relations = RelationService(uow)
            for pid in created[: max(0, people - start)]:
                relations.touch(operator, pid, "huis-a", "customer", reason="data-migration")
            ids.extend(str(pid) for pid in created)
    return Seeded(
        writer_key=writer,
        reader_key=reader,
        people=ids[:people],
        emails=[r["email"] for r in rows[:people]],
        to_erase=ids[people:],
        notice_sha=notice.sha256,
    )


def _consent(seeded: Seeded, person: str, status: str) -> Request:
    body = {
        "purpose": "newsletter",
        "target": "huis-a",
        "status": status,
        "notice_sha256": seeded.notice_sha,
        "language": "nl",
        "channel": "web",
    }
    return ("POST", f"/v1/people/{person}/consents", body, {"Idempotency-Key": secrets.token_hex(12)})


def scenario_steps(seeded: Seeded, clients: int) -> dict[str, tuple[str, Step]]:
    """name -> (token, step). Steps of different clients never touch the same person."""
    per_client = max(1, len(seeded.people) // clients)
    erase_iter: Iterator[str] = iter(seeded.to_erase)
    run_tag = secrets.token_hex(4)

    def consent(number: int, count: int) -> list[Callable[[Any], Request]]:
        person = seeded.people[number * per_client + count % per_client]
        status = "granted" if (count // per_client) % 2 == 0 else "withdrawn"
        return [lambda _prev: _consent(seeded, person, status)]

    def new_person(number: int, count: int) -> list[Callable[[Any], Request]]:
        email = f"new.{run_tag}.{number}.{count}@example.org"
        body = {"given_name": "Nieuw", "family_name": "Koper", "email": email}
        return [
            lambda _prev: ("POST", "/v1/people", body, {}),
            lambda prev: _consent(seeded, prev["id"], "granted"),
        ]

    def lookup(number: int, count: int) -> list[Callable[[Any], Request]]:
        email = seeded.emails[(number * per_client + count) % len(seeded.emails)]
        return [lambda _prev: ("POST", "/v1/people/lookup", {"email": email, "purpose": "ticketing-service"}, {})]

    def erasure(number: int, count: int) -> list[Callable[[Any], Request]]:
        person = next(erase_iter, None)
        if person is None:
            raise SystemExit("the pool of people to erase ran dry: raise --erasable")
        return [lambda _prev: ("POST", f"/v1/people/{person}/erase", None, {})]

    return {
        "consent": (seeded.writer_key, consent),
        "new-person": (seeded.writer_key, new_person),
        "lookup": (seeded.reader_key, lookup),
        "erasure": (seeded.writer_key, erasure),
    }


class Processes:
    """CPU seconds of a process tree (the hub) and of every PostgreSQL process."""

    def __init__(self, root: int, postgres: bool) -> None:
        self.root = psutil.Process(root)
        self.postgres = postgres

    def hub_tree(self) -> list[psutil.Process]:
        return [self.root, *self.root.children(recursive=True)]

    def hub_cpu(self) -> float:
        total = 0.0
        for p in self.hub_tree():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def pg_cpu(self) -> float:
        if not self.postgres:
            return 0.0
        total = 0.0
        for p in psutil.process_iter(["name"]):
            if p.info["name"] and p.info["name"].startswith("postgres"):
                try:
                    t = p.cpu_times()
                    total += t.user + t.system
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
        return total

    def peak_rss_mb(self) -> float:
        peak = 0
        for p in self.hub_tree():
            try:
                status = Path(f"/proc/{p.pid}/status").read_text()
            except OSError:
                continue
            m = re.search(r"VmHWM:\s+(\d+) kB", status)
            if m:
                peak = max(peak, int(m.group(1)))
        return peak / 1024


@contextmanager
def served(workdir: Path, workers: int, access_log: bool) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = _free_port()
    env = {**os.environ, "CONSENT_HUB_CONFIG": str(workdir / "hub.toml"), "CONSENT_HUB_SCHEDULE_SYNCS": "false"}
    command = [*HUB, "serve", "--port", str(port), "--workers", str(workers)]
    if not access_log:
        command.append("--no-access-log")
    server = subprocess.Popen(command, env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the hub did not start: {server.stderr.read().decode() if server.stderr else ''}")
            time.sleep(0.2)
        if workers > 1:
            time.sleep(2.0)  # every worker imports and opens its pool before the load starts
        yield port, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def audit_verify(workdir: Path) -> bool:
    env = {**os.environ, "CONSENT_HUB_CONFIG": str(workdir / "hub.toml")}
    done = subprocess.run(
        [*HUB, "audit", "verify", "--cluster", CLUSTER], env=env, cwd=workdir, capture_output=True, text=True
    )
    if done.returncode != 0:
        console.print(done.stdout, done.stderr)
    return done.returncode == 0


def pgbench_ceiling(pg_url: str, seconds: int) -> float | None:
    """``pgbench -N -c 8 -j 2`` transactions per second on a scratch database of the same server."""
    if shutil.which("pgbench") is None:
        return None
    base = make_url(pg_url)
    name = f"bench_pgbench_{secrets.token_hex(4)}"
    admin = create_engine(normalise_url(pg_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        args = ["-h", base.host or "127.0.0.1", "-p", str(base.port or 5432), "-U", base.username or "postgres"]
        subprocess.run(["pgbench", *args, "-i", "-q", "-s", "8", name], check=True, capture_output=True)
        done = subprocess.run(
            ["pgbench", *args, "-N", "-c", "8", "-j", "2", "-T", str(seconds), name],
            check=True,
            capture_output=True,
            text=True,
        )
        m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
        return float(m.group(1)) if m else None
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@dataclass
class Cell:
    backend: str
    workers: int
    scenario: str
    result: LoadResult
    hub_cpu_ms: float
    pg_cpu_ms: float


def run_backend(backend: str, args: argparse.Namespace) -> tuple[list[Cell], float, bool]:
    cells: list[Cell] = []
    peak = 0.0
    verified = True
    with tempfile.TemporaryDirectory() as tmp, cluster(backend, args.pg_url, Path(tmp)) as (registry, _plain):
        workdir = Path(tmp)
        scenarios = [s for s in args.scenarios.split(",") if s]
        erasable = args.erasable if "erasure" in scenarios else 0
        seeded = seed(registry, args.people, erasable * len(args.workers))
        registry.dispose()
        for workers in args.workers:
            with served(workdir, workers, args.access_log) as (port, server):
                procs = Processes(server.pid, backend == "postgresql")
                for scenario in scenarios:
                    for clients in CLIENTS:
                        token, step = scenario_steps(seeded, clients)[scenario]
                        run_load("127.0.0.1", port, token, clients=clients, seconds=args.warmup, step=step)
                        hub0, pg0 = procs.hub_cpu(), procs.pg_cpu()
                        result = run_load("127.0.0.1", port, token, clients=clients, seconds=args.seconds, step=step)
                        hub1, pg1 = procs.hub_cpu(), procs.pg_cpu()
                        steps = max(1, len(result.latencies))
                        hub_ms, pg_ms = (hub1 - hub0) / steps * 1000, (pg1 - pg0) / steps * 1000
                        cell = Cell(backend, workers, scenario, result, hub_ms, pg_ms)
                        cells.append(cell)
                        _print_cell(cell)
                peak = max(peak, procs.peak_rss_mb())
            ok = audit_verify(workdir)
            verified = verified and ok
            console.print(f"{backend}, {workers} worker(s): audit verify {'passed' if ok else 'FAILED'}")
    return cells, peak, verified


def _print_cell(c: Cell) -> None:
    r = c.result
    errors = f" errors {r.errors}" if r.errors else ""
    console.print(
        f"{c.backend:10} w={c.workers} {c.scenario:10} c={r.clients:2}: {r.rate:7.1f}/s "
        f"p50 {r.quantile(0.5) * 1000:6.1f} ms p95 {r.quantile(0.95) * 1000:6.1f} ms "
        f"p99 {r.quantile(0.99) * 1000:6.1f} ms; hub CPU {c.hub_cpu_ms:5.2f} ms, PostgreSQL CPU {c.pg_cpu_ms:5.2f} ms "
        f"per step{errors}"
    )


def _print_table(cells: list[Cell]) -> None:
    """The cells as a Markdown table, for bench/RESULTS.md."""
    head = ["backend", "workers", "scenario", "clients", "steps/s", "p50 ms", "p95 ms", "p99 ms"]
    head += ["hub CPU ms/step", "PostgreSQL CPU ms/step"]
    console.print("\n| " + " | ".join(head) + " |")
    console.print("|" + " --- |" * len(head))
    for c in cells:
        r = c.result
        values = [c.backend, str(c.workers), c.scenario, str(r.clients), f"{r.rate:,.0f}"]
        values += [f"{r.quantile(q) * 1000:.1f}" for q in (0.5, 0.95, 0.99)]
        values += [f"{c.hub_cpu_ms:.2f}", f"{c.pg_cpu_ms:.2f}" if c.backend == "postgresql" else "-"]
        console.print("| " + " | ".join(values) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--workers", default="1,2", help="uvicorn worker counts to serve with")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--seconds", type=float, default=5.0, help="load time per cell")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--people", type=int, default=4000)
    parser.add_argument("--erasable", type=int, default=6000, help="people to erase per worker count")
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--pg-url", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    args = parser.parse_args()
    args.workers = [int(w) for w in args.workers.split(",")]
    backends = args.backends.split(",")
    ceiling = pgbench_ceiling(args.pg_url, args.pgbench_seconds) if "postgresql" in backends else None
    if ceiling is not None:
        console.print(f"pgbench -N -c 8 -j 2 -T {args.pgbench_seconds}: {ceiling:.0f} transactions/s")
    all_ok = True
    summary: list[str] = []
    all_cells: list[Cell] = []
    for backend in backends:
        cells, peak, ok = run_backend(backend, args)
        all_cells.extend(cells)
        all_ok = all_ok and ok
        verdict = "passed" if ok else "FAILED"
        summary.append(f"{backend}: peak RSS of a hub process {peak:.0f} MB; audit verify {verdict}")
        if ceiling:
            for c in cells:
                if c.scenario == "consent" and c.result.clients == 8:
                    summary.append(
                        f"{backend} w={c.workers} consent at 8 clients: {c.result.rate:.0f}/s = "
                        f"{c.result.rate / ceiling:.3f} x pgbench -N -c 8 ({ceiling:.0f}/s)"
                    )
    _print_table(all_cells)
    for line in summary:
        console.print(line)
    if not all_ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
