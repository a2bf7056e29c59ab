"""Benchmark of the Tixly sync (issue 4) into PostgreSQL, against a plaintext load of the same rows.

Run from the repository root::

    .venv/bin/python -m bench.bench_sync                      # 100,000 customers, ~500,000 ticket lines
    .venv/bin/python -m bench.bench_sync --customers 20000    # a quicker look

A fake Tixly (``consent-hub fake-engine tixly --size N``, its own process) serves the fictional
cluster over loopback. Two loads then read every stream from it, page by page (1,000 rows):

(a) the hub: ``consent-hub sync`` in its own process into a fresh migrated cluster, the real path:
    validation, encryption, blind indexes, one person per e-mail, opt-ins as consent events,
    relations, access keys, audit entries, bookmarks and run counters per page. The command then
    rebuilds the segment bitmaps of the events it touched; the bench runs it with
    ``--no-refresh-segments`` and times ``consent-hub segments-refresh`` on its own after it;
(b) plaintext: the same pages, fetched the same way (same HTTP client), written as they come into
    plain tables with COPY, one transaction per page, no validation, encryption, policy or audit.

Both are timed from process start to exit; peak RSS is the process's own ``ru_maxrss`` (wait4).
The fake shares the machine's two cores with the loader in both runs. For the hub's run the CPU
time of the three parties is added up (the hub process from wait4, PostgreSQL and the fake from
/proc; PostgreSQL's an estimate): divided by the cores, it is the shortest the run could take if
all of its work overlapped perfectly.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from rich.table import Table as RichTable
from sqlalchemy import BigInteger, Boolean, Column, Float, MetaData, String, Table, Text, text

from bench.bench_vault import CLUSTER, Row, cluster, console, fmt
from connectors.sources.base import EngineHttp, RetryPolicy
from consent_hub.actors import Actor
from consent_hub.consent.service import ConsentService
from consent_hub.houses.service import HouseService
from consent_hub.storage.bulk import insert_rows
from consent_hub.storage.db import make_engine
from fakes.server import free_port

TOKEN = "tixly-demo-token"  # the fake-engine command serves its default token
HOUSES = {
    "1001": "schouwburg-leie",
    "1002": "concertzaal-ijzer",
    "1003": "theater-vlasmarkt",
    "1004": "cc-de-brug",
    "1005": "danshuis-mandel",
    "1006": "jeugdtheater-pluim",
    "1007": "festival-zomerleie",
    "1008": "muziekclub-kanaal",
}
TIME_TARGET_S = 120.0
RSS_TARGET_MIB = 400.0
RATE_RATIO_TARGET = 0.5
PAGE = 1000
HUB = [sys.executable, "-m", "consent_hub.cli"]

plain_meta = MetaData()
PLAIN = {
    "events": Table(
        "events_plain",
        plain_meta,
        Column("id", BigInteger),
        Column("org", BigInteger),
        Column("name", Text),
        Column("start", String(40)),
        Column("categories", Text),
    ),
    "customers": Table(
        "customers_plain",
        plain_meta,
        Column("id", BigInteger),
        Column("first_name", Text),
        Column("last_name", Text),
        Column("email", Text),
        Column("mobile", Text),
        Column("street", Text),
        Column("zip", Text),
        Column("city", Text),
        Column("country", Text),
        Column("birth", Text),
        Column("language", BigInteger),
        Column("permissions", Text),
        Column("edited", String(40)),
    ),
    "sales": Table(
        "sales_plain",
        plain_meta,
        Column("id", BigInteger),
        Column("customer", BigInteger),
        Column("event", BigInteger),
        Column("org", BigInteger),
        Column("order_id", BigInteger),
        Column("ticket_type", Text),
        Column("subscription", BigInteger),
        Column("price", Float),
        Column("count", BigInteger),
        Column("online", Boolean),
        Column("created", String(40)),
    ),
    "membership_sales": Table(
        "memberships_plain",
        plain_meta,
        Column("id", BigInteger),
        Column("customer", BigInteger),
        Column("membership", BigInteger),
        Column("org", BigInteger),
        Column("created", String(40)),
        Column("expires", String(40)),
    ),
}
STREAMS = {
    "events": ("/events", {}),
    "customers": ("/customers", {}),
    "sales": ("/events/sales", {"SoldFrom": "2000-01-01"}),
    "membership_sales": ("/memberships/sales", {"SoldFrom": "2000-01-01"}),
}


def _plain_row(stream: str, r: dict[str, Any]) -> dict[str, Any]:
    if stream == "events":
        cats = json.dumps([c.get("Name") for c in r.get("Categories") or []])
        return {
            "id": r["Id"],
            "org": r["OrganisationId"],
            "name": r["Name"],
            "start": r["StartDate"],
            "categories": cats,
        }
    if stream == "customers":
        return {
            "id": r["Id"],
            "first_name": r["FirstName"],
            "last_name": r["LastName"],
            "email": r["Email"],
            "mobile": r.get("Mobile"),
            "street": r.get("AddressOne"),
            "zip": r.get("ZipCode"),
            "city": r.get("City"),
            "country": r.get("Country"),
            "birth": r.get("DateOfBirth"),
            "language": r.get("LanguageId"),
            "permissions": json.dumps(r.get("Permissions") or []),
            "edited": r.get("Edited") or r["Created"],
        }
    if stream == "sales":
        return {
            "id": r["SaleTicketId"],
            "customer": r["CustomerId"],
            "event": r["EventId"],
            "org": r["OrganisationID"],
            "order_id": r["OrderId"],
            "ticket_type": r["TicketType"],
            "subscription": r["SubscriptionTypeId"],
            "price": r["Price"],
            "count": r["TicketCount"],
            "online": r["Online"],
            "created": r["Created"],
        }
    return {
        "id": r["Id"],
        "customer": r["CustomerId"],
        "membership": r["MembershipID"],
        "org": r["OrganisationID"],
        "created": r["Created"],
        "expires": r.get("Expires"),
    }


def plain_load(engine_url: str, database_url: str) -> int:
    """The plaintext baseline (run in its own process by ``main``)."""
    db = make_engine(database_url)
    plain_meta.create_all(db)
    http = EngineHttp(
        engine_url, timeout=60, policy=RetryPolicy(8, 0.5, 5), headers=lambda _p: {"Authorization": f"Bearer {TOKEN}"}
    )
    rows = 0
    for stream, (path, params) in STREAMS.items():
        url: str | None = path
        query: dict[str, Any] | None = {**params, "pageSize": PAGE}
        while url:
            body = http.get_json(url, query)
            query = None
            page = [_plain_row(stream, r) for r in body["Data"]]
            with db.begin() as conn:
                from sqlalchemy.orm import Session

                with Session(bind=conn) as session:
                    insert_rows(session, PLAIN[stream], page)
            rows += len(page)
            url = body.get("Next")
    http.close()
    db.dispose()
    print(json.dumps({"rows": rows}))
    return 0


LAST_CHILD_CPU = [0.0]  # user + system seconds of the last child ``timed`` ran


def _ticks(pid: int, children: bool = False) -> int:
    """CPU clock ticks a process used (user + system; with ``children``, also those of its
    children that have exited and been reaped). Linux /proc; 0 where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    # fields[0] is the state (field 3 of stat); utime, stime, cutime, cstime are fields 14-17
    used = int(fields[11]) + int(fields[12])
    return used + (int(fields[13]) + int(fields[14]) if children else 0)


def postgres_ticks() -> int:
    """CPU ticks of this machine's PostgreSQL: the live server processes, and through the
    postmaster the backends that have exited (an estimate: a backend that ends between two
    readings is counted whole)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() not in ("postgres", "postmaster"):
                continue
        except OSError:
            continue
        pid = int(proc.name)
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            is_postmaster = Path(f"/proc/{parent}/comm").read_text().strip() not in ("postgres", "postmaster")
        except (OSError, IndexError, ValueError):
            is_postmaster = False
        total += _ticks(pid, children=is_postmaster)
    return total


def cpu_seconds(ticks: int) -> float:
    return ticks / os.sysconf("SC_CLK_TCK")


def timed(cmd: Sequence[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, peak RSS MiB, stdout) of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(cmd), env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    LAST_CHILD_CPU[0] = usage.ru_utime + usage.ru_stime
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[2:4]} failed with exit code {proc.returncode}: {output[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, output


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--customers", type=int, default=100_000, help="fake Tixly size (default 100000)")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("CONSENT_HUB_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--plain-load", nargs=2, metavar=("ENGINE_URL", "DATABASE_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plain_load:
        return plain_load(*args.plain_load)

    port = free_port()
    fake = subprocess.Popen(
        [*HUB, "fake-engine", "tixly", "--port", str(port), "--size", str(args.customers), "--seed", "7"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                truth = httpx.get(f"{base}/_fake/truth", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
                if truth.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or fake.poll() is not None:
                raise SystemExit("the fake Tixly did not start")
            time.sleep(0.5)
        counts = truth.json()
        console.print(
            f"fake Tixly: {counts['customers']:,} customers, {counts['ticket_lines']:,} ticket lines, "
            f"{counts['events']:,} events, {counts['membership_sales']:,} membership sales"
        )
        with (
            tempfile.TemporaryDirectory(prefix="consent-hub-bench-sync-") as tmp,
            cluster("postgresql", args.pg_url, Path(tmp)) as (registry, plain),
        ):
            actor = Actor.cli(CLUSTER)
            with registry.unit_of_work(CLUSTER) as uow:
                ConsentService(uow).sync_notices(actor)
                for org, slug in HOUSES.items():
                    HouseService(uow).add(actor, {"slug": slug, "name": slug, "tixly_organisation_id": org})
            config = Path(tmp) / "hub.toml"
            config.write_text(
                config.read_text()
                + f'\n[clusters.{CLUSTER}.connectors.tixly]\nkind = "tixly"\nbase_url = "{base}/v3"\n'
                f'token = "{TOKEN}"\npage_size = {PAGE}\n\n[clusters.{CLUSTER}.connectors.tixly.programs.9001]\n'
                'program = "duo-leie-ijzer"\nhouses = ["schouwburg-leie", "concertzaal-ijzer"]\n'
            )
            env = {**os.environ, "CONSENT_HUB_CONFIG": str(config)}
            plain_url = plain.url.render_as_string(hide_password=False)
            plain_s, plain_rss, plain_out = timed(
                [sys.executable, "-m", "bench.bench_sync", "--plain-load", f"{base}/v3", plain_url], env
            )
            plain_rows = json.loads(plain_out.strip().splitlines()[-1])["rows"]
            before = (postgres_ticks(), _ticks(fake.pid))
            hub_s, hub_rss, _ = timed(
                [*HUB, "sync", "--cluster", CLUSTER, "--connector", "tixly", "--no-refresh-segments"], env
            )
            pg_cpu, fake_cpu = (cpu_seconds(postgres_ticks() - before[0]), cpu_seconds(_ticks(fake.pid) - before[1]))
            hub_cpu = LAST_CHILD_CPU[0]
            # what the command does after the sync unless told not to, timed on its own
            refresh_s, _, refresh_out = timed([*HUB, "segments-refresh", "--cluster", CLUSTER], env)
            with registry.unit_of_work(CLUSTER) as uow:

                def q(sql: str) -> Any:
                    return uow.session.execute(text(sql)).scalar_one()

                run_read = q("SELECT rows_read FROM sync_runs")
                people, sales = q("SELECT count(*) FROM people"), q("SELECT count(*) FROM sales")
                consents, audit = q("SELECT count(*) FROM consent_events"), q("SELECT count(*) FROM audit_entries")
    finally:
        fake.terminate()
        fake.wait(timeout=30)
    # both loads read the same engine rows; the hub's run counts some twice (its keyset pages start
    # again at the last time read), so both rates are taken over the plaintext load's row count
    hub_rate, plain_rate = plain_rows / hub_s, plain_rows / plain_s
    rows = [
        Row(
            "hub sync: total time",
            hub_s,
            "s",
            TIME_TARGET_S,
            "max",
            f"{plain_rows:,} engine rows ({run_read - plain_rows:,} more read again at page starts)",
        ),
        Row("hub sync: rows/s", hub_rate, "rows/s"),
        Row("hub sync: peak RSS", hub_rss, "MiB", RSS_TARGET_MIB, "max"),
        Row(
            "hub sync: CPU (hub + PostgreSQL + fake)",
            hub_cpu + pg_cpu + fake_cpu,
            "s",
            None,
            "max",
            f"hub {hub_cpu:.1f} s, PostgreSQL ~{pg_cpu:.1f} s, fake {fake_cpu:.1f} s; "
            f"{os.cpu_count()} cores x {hub_s:.1f} s = {(os.cpu_count() or 1) * hub_s:.1f} core-seconds",
        ),
        Row(
            "segment bitmaps refresh (after the sync)",
            refresh_s,
            "s",
            None,
            "max",
            refresh_out.strip().splitlines()[-1] if refresh_out.strip() else "",
        ),
        Row("plaintext load: total time", plain_s, "s", None, "max", f"{plain_rows:,} rows"),
        Row("plaintext load: rows/s", plain_rate, "rows/s"),
        Row("plaintext load: peak RSS", plain_rss, "MiB"),
        Row("hub rate / plaintext rate", hub_rate / plain_rate, "x", RATE_RATIO_TARGET, "min"),
    ]
    table = RichTable(title=f"Tixly sync into PostgreSQL ({args.customers:,} customers)", title_justify="left")
    for col in ("metric", "result", "target", "", "notes"):
        table.add_column(col, justify="right" if col in ("result", "target") else "left")
    for row in rows:
        status = {"PASS": "[green]PASS[/]", "MISS": "[red]MISS[/]"}.get(row.status, "")
        table.add_row(row.metric, fmt(row.value, row.unit), row.target_text(), status, row.note)
    console.print(table)
    console.print(
        f"written by the hub: {people:,} people, {sales:,} sales lines, {consents:,} consent events, "
        f"{audit:,} audit entries"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
