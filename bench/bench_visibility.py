"""Benchmark of visibility (issue 3) on PostgreSQL: counts, e-mail lookups, SQL vs per-row Casbin.

Run from the repository root::

    .venv/bin/python -m bench.bench_visibility                  # 1M people, 3M relations, 2M consents
    .venv/bin/python -m bench.bench_visibility --people 200000

A fresh migrated cluster (hub.toml, keyring, databases ``bench_vault_<hex>`` etc., made and
dropped by ``bench.bench_vault.cluster``) is filled server-side with ``generate_series``: people
with random blind indexes and short random ciphertexts (never decryptable), relations and consent
states. About 1,000 real people are created through ``PeopleService.bulk_create`` so that e-mail
lookups decrypt real rows. Nothing below is timed before the data is loaded and analysed.

Measured:

(a) ``AccessRepository.count`` for one house, three (role, purpose) pairs, p50/p95 over ``--runs``.
(b) ``AccessService.lookup_by_email`` by a box-office actor, one unit of work (incl. its audit
    commit) per lookup.
(c) on a ``--sample``-person sample: the SQL path (the ``visible`` predicate restricted to the
    sample ids, ids fetched to Python) against a per-row Python loop. The loop's input (each
    sample person's status, relations and consent states) is fetched BEFORE timing and not
    counted; the loop then computes, per person, the held bases (relation and consent checks,
    expiry) and calls ``SyncedEnforcer.enforce(role, house, group, "read", purpose, basis)`` for
    every field group and every held basis (what a per-row design needs to know which fields to
    show). The SQL side includes the round trip and fetching the visible ids.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import casbin
from rich.table import Table as RichTable
from sqlalchemy import Engine, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Select

from bench.bench_vault import CLUSTER, batches, cluster, console, peak_rss_mib
from bench.generate import people as generate_people
from consent_hub.access.policy import FIELD_GROUPS, AccessPolicy
from consent_hub.access.predicates import Scope
from consent_hub.access.repository import AccessRepository
from consent_hub.access.service import AccessService
from consent_hub.actors import Actor
from consent_hub.clock import utcnow
from consent_hub.clusters import ClusterRegistry
from consent_hub.consent.catalogue import POLICIES_DIR
from consent_hub.houses.service import HouseService
from consent_hub.people.service import PeopleService
from consent_hub.storage import access_keys

N_HOUSES = 10
HOUSE_SLUGS = [f"bench-house-{i:02d}" for i in range(1, N_HOUSES + 1)]
COUNT_TARGET_MS = 150.0
LOOKUP_TARGET_MS = 5.0
RATIO_TARGET = 1000.0
COUNT_CASES = (("marketer", "newsletter"), ("marketer", "cluster-marketing"), ("box-office", "ticketing-service"))


@dataclass
class Line:
    metric: str
    p50: float | None
    p95: float | None
    unit: str = "ms"
    target: float | None = None
    kind: str = "max"  # "max": p95 (or value) must be <= target; "min": value must be >= target
    note: str = ""

    @property
    def status(self) -> str:
        if self.target is None or self.p95 is None:
            return ""
        ok = self.p95 <= self.target if self.kind == "max" else self.p95 >= self.target
        return "PASS" if ok else "MISS"


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def pct(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def timed(fn: Callable[[], Any], runs: int, warmup: int = 2) -> tuple[list[float], Any]:
    result = None
    for _ in range(warmup):
        result = fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out, result


# -- data ----------------------------------------------------------------------------------------
def pid_sql(g: str) -> str:
    """The synthetic person id for series number ``g``: deterministic, so no join is needed."""
    return f"md5('bench-person-' || {g})::uuid"


def random_bytes_sql(conn: Any) -> tuple[str, str]:
    """A SQL template for ``{}`` random bytes, and what it uses: pgcrypto when it can be had."""
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pgcrypto")
        return "gen_random_bytes({})", "pgcrypto gen_random_bytes"
    except DBAPIError:  # no pgcrypto: md5-based bytes are as good here
        return "substr(decode(md5(random()::text) || md5(random()::text), 'hex'), 1, {})", "md5 bytes (no pgcrypto)"


def people_sql(rb: str) -> str:
    """``:n`` synthetic people: random blind indexes, short random ciphertexts (never decryptable)."""
    return f"""
        INSERT INTO people (id, status, email_bidx, phone_bidx, given_name_ct, family_name_ct,
                            email_ct, language_ct, row_version, created_at, updated_at)
        SELECT {pid_sql("g")}, 'active', {rb.format(32)},
               CASE WHEN g % 10 < 7 THEN {rb.format(32)} END,
               {rb.format(20)}, {rb.format(24)}, {rb.format(40)}, {rb.format(14)}, 1,
               now() - (g % 1000) * interval '1 day', now()
        FROM generate_series(1, :n) g
        ORDER BY 1
        """


def load_synthetic(engine: Engine, n: int, seed: int) -> str:
    with engine.begin() as conn:
        rb, how = random_bytes_sql(conn)
    fraction = (seed % 1000) / 1000
    steps = [
        (f"people ({n:,})", people_sql(rb)),
        (
            f"relations (~{3 * n:,})",
            f"""
            WITH h AS (SELECT array_agg(id ORDER BY slug) AS a FROM houses WHERE slug LIKE 'bench-house-%'),
            src AS (
                SELECT g, k, (hashint4(g) & 2147483647) % {N_HOUSES} AS s, random() AS r, random() AS t
                FROM generate_series(1, :n) g CROSS JOIN generate_series(0, 4) k
                WHERE k < 1 + g % 5
                OFFSET 0
            )
            INSERT INTO relations (person_id, house_id, kind, program, first_seen, last_seen)
            SELECT {pid_sql("g")}, h.a[1 + (s + k) % {N_HOUSES}],
                   CASE WHEN r < 0.05 THEN 'subscriber' ELSE 'customer' END,
                   CASE WHEN r < 0.05 THEN 'cubo' ELSE '' END,
                   now() - (1 + t * 1500) * interval '1 day', now() - t * interval '300 days'
            FROM src, h
            ORDER BY 1
            """,
        ),
        (
            f"consent_states ({2 * n:,})",
            f"""
            WITH src AS (
                SELECT g, p.purpose, p.kind, (hashint4(g) & 2147483647) % {N_HOUSES} AS s,
                       random() AS r, random() AS t, random() AS u
                FROM generate_series(1, :n) g
                CROSS JOIN (VALUES ('newsletter', 'house'), ('cluster-marketing', 'cluster')) p(purpose, kind)
                OFFSET 0
            )
            INSERT INTO consent_states (person_id, purpose, target_kind, target_ref, status, event_id,
                                        given_at, expires_at)
            SELECT {pid_sql("g")}, purpose, kind,
                   CASE WHEN kind = 'house' THEN 'bench-house-' || lpad((1 + s)::text, 2, '0') ELSE :cluster END,
                   CASE WHEN r < 0.80 THEN 'granted' WHEN r < 0.92 THEN 'withdrawn' ELSE 'refused' END,
                   gen_random_uuid(), now() - (400 + u * 700) * interval '1 day',
                   CASE WHEN t < 0.10 THEN now() - (1 + u * 300) * interval '1 day'
                        WHEN t < 0.60 THEN now() + (30 + u * 700) * interval '1 day' END
            FROM src
            ORDER BY 1
            """,
        ),
    ]
    with engine.begin() as conn:
        conn.execute(text("SELECT setseed(:f)"), {"f": fraction})
        for label, sql in steps:
            t0 = time.perf_counter()
            conn.execute(text(sql), {"n": n, "cluster": CLUSTER})
            console.log(f"  {label}: {time.perf_counter() - t0:.1f} s")
    return how


def add_real_people(registry: ClusterRegistry, actor: Actor, k: int, seed: int) -> tuple[list[str], list[str]]:
    """``k`` real people through the service; 90 % become customers of house 1 (hits for its box
    office), all get a newsletter consent there. Returns (hit e-mails, miss e-mails)."""
    data = generate_people(k, seed)
    created: list[uuid.UUID] = []
    for chunk in batches(data, 500):
        with registry.unit_of_work(CLUSTER) as uow:
            created.extend(PeopleService(uow).bulk_create(actor, chunk).created)
    if len(created) != k:
        raise SystemExit(f"created {len(created)} of {k} real people")
    n_hit = k * 9 // 10
    with registry.unit_of_work(CLUSTER) as uow:
        house_id = uow.session.scalar(text("SELECT id FROM houses WHERE slug = :s"), {"s": HOUSE_SLUGS[0]})
        uow.session.execute(
            text(
                "INSERT INTO relations (person_id, house_id, kind, program, first_seen, last_seen)"
                " SELECT p, :h, 'customer', '', now() - interval '100 days', now() FROM unnest(CAST(:ids AS uuid[])) p"
            ),
            {"h": house_id, "ids": created[:n_hit]},
        )
        uow.session.execute(
            text(
                "INSERT INTO consent_states (person_id, purpose, target_kind, target_ref, status, event_id, given_at)"
                " SELECT p, 'newsletter', 'house', :slug, 'granted', gen_random_uuid(), now() - interval '10 days'"
                " FROM unnest(CAST(:ids AS uuid[])) p"
            ),
            {"slug": HOUSE_SLUGS[0], "ids": created},
        )
    emails = [d["email"] for d in data]
    return emails[:n_hit], emails[n_hit:]


# -- the per-row loop ----------------------------------------------------------------------------
def fetch_rows(engine: Engine, scope: Scope) -> tuple[dict[uuid.UUID, str], dict[uuid.UUID, list[Any]], Any]:
    """Status, relations and consent states of the sample people (the per-row loop's input)."""
    with engine.connect() as conn:
        status: dict[uuid.UUID, str] = {
            pid: st
            for pid, st in conn.execute(text("SELECT p.id, p.status FROM people p JOIN bench_sample s ON s.id = p.id"))
        }
        rels: dict[uuid.UUID, list[Any]] = {}
        for pid, house_id, kind in conn.execute(
            text("SELECT r.person_id, r.house_id, r.kind FROM relations r JOIN bench_sample s ON s.id = r.person_id")
        ):
            rels.setdefault(pid, []).append((house_id, kind))
        states: dict[uuid.UUID, list[Any]] = {}
        for row in conn.execute(
            text(
                "SELECT c.person_id, c.purpose, c.target_kind, c.target_ref, c.status, c.expires_at"
                " FROM consent_states c JOIN bench_sample s ON s.id = c.person_id"
            )
        ):
            states.setdefault(row[0], []).append(row[1:])
    return status, rels, states


def per_row_loop(
    enforcer: casbin.SyncedEnforcer,
    role: str,
    scope: Scope,
    data: tuple[dict[uuid.UUID, str], dict[uuid.UUID, list[Any]], Any],
    cap_s: float,
) -> tuple[set[uuid.UUID], int, int, float]:
    """Returns (visible ids, people done, enforce calls, seconds). Stops after ``cap_s`` seconds."""
    status, rels, states = data
    groups = list(FIELD_GROUPS)
    visible_ids: set[uuid.UUID] = set()
    calls = done = 0
    t0 = time.perf_counter()
    for pid, st in status.items():
        done += 1
        if done % 2000 == 0 and time.perf_counter() - t0 > cap_s:
            break
        if st != "active":
            continue
        held: set[str] = set()
        for house_id, kind in rels.get(pid, ()):
            if house_id == scope.house_id:
                held.add("own-house-customer" if kind == "customer" else "program-subscriber")
        for purpose, tkind, ref, cstatus, expires in states.get(pid, ()):
            if purpose != scope.purpose or cstatus != "granted" or (expires is not None and expires <= scope.now):
                continue
            if tkind == "house" and ref == scope.house:
                held.add("consent-house")
            elif tkind == "cluster" and ref == scope.cluster:
                held.add("consent-cluster")
        allowed = set()
        for group in groups:
            for basis in held:
                calls += 1
                if enforcer.enforce(role, scope.house, group, "read", scope.purpose, basis):
                    allowed.add(group)
        if allowed:
            visible_ids.add(pid)
    return visible_ids, done, calls, time.perf_counter() - t0


def explain(engine: Engine, stmt: Select[Any]) -> list[str]:
    compiled = stmt.compile(dialect=postgresql.psycopg.dialect())  # type: ignore[no-untyped-call]
    with engine.connect() as conn:
        return [
            r[0]
            for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), compiled.construct_params())
        ]


# -- main ----------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> tuple[list[Line], list[str]]:
    lines: list[Line] = []
    notes: list[str] = []
    operator = Actor.cli(CLUSTER)
    policy = AccessPolicy()
    with (
        tempfile.TemporaryDirectory(prefix="consent-hub-bench-") as tmp,
        cluster("postgresql", args.pg_url, Path(tmp)) as (registry, _plain),
    ):
        engine = registry.runtime(CLUSTER).engine
        with registry.unit_of_work(CLUSTER) as uow:
            houses = HouseService(uow)
            for slug in HOUSE_SLUGS:
                houses.add(operator, {"slug": slug, "name": f"Bench house {slug[-2:]}"})

        console.log(f"loading synthetic data for {args.people:,} people (server-side) ...")
        t0 = time.perf_counter()
        how = load_synthetic(engine, args.people, args.seed)
        console.log(f"creating {args.real:,} real people through PeopleService.bulk_create ...")
        hits, misses = add_real_people(registry, operator, args.real, args.seed)
        sample = min(args.sample, args.people)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE bench_sample (id uuid PRIMARY KEY)")
            conn.execute(
                text(f"INSERT INTO bench_sample SELECT {pid_sql('g')} FROM generate_series(1, :k) g"), {"k": sample}
            )
        with registry.unit_of_work(CLUSTER) as uow:  # the SQL-loaded rows bypassed the key maintenance
            access_keys.rebuild_all(uow.session)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(
                "VACUUM (ANALYZE) people, relations, consent_states, access_keys, bench_sample, houses"
            )
            sizes = conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM people), (SELECT count(*) FROM relations),"
                    " (SELECT count(*) FROM consent_states), pg_size_pretty(pg_database_size(current_database()))"
                )
            ).one()
        load_s = time.perf_counter() - t0
        notes.append(
            f"data: {sizes[0]:,} people, {sizes[1]:,} relations, {sizes[2]:,} consent states, "
            f"{N_HOUSES} houses, database {sizes[3]}; loaded in {load_s:.0f} s ({how}), then VACUUM ANALYZE"
        )
        console.log(notes[-1])

        house = HOUSE_SLUGS[0]
        with registry.unit_of_work(CLUSTER) as uow:
            house_id = AccessRepository(uow.session).house_id(house)

        # (a) counts
        plans: dict[str, list[str]] = {}
        for role, purpose in COUNT_CASES:
            compiled = policy.compile(role, house, purpose)
            scope = Scope(CLUSTER, house, house_id, purpose, utcnow())

            def count(bases: list[str] = compiled.bases, scope: Scope = scope) -> int:
                with registry.unit_of_work(CLUSTER) as uow:
                    return AccessRepository(uow.session).count(bases, scope)

            console.log(f"(a) count {role} + {purpose} x{args.runs} ...")
            samples, n = timed(count, args.runs)
            lines.append(
                Line(
                    f"count {role} + {purpose}",
                    statistics.median(samples),
                    pct(samples, 0.95),
                    target=COUNT_TARGET_MS,
                    note=f"{n:,} visible; bases {','.join(compiled.bases)}",
                )
            )
            with registry.unit_of_work(CLUSTER) as uow:
                stmt = AccessRepository(uow.session).count_statement(compiled.bases, scope)
            plans[f"{role} + {purpose}"] = explain(engine, stmt)

        # (b) lookups by e-mail through the service, one unit of work each
        actor = Actor(id="bench", cluster=CLUSTER, role="box-office", house=house)
        rng = random.Random(args.seed)
        for label, pool in (("hit", hits), ("miss (no relation)", misses)):
            emails = iter(rng.choices(pool, k=args.runs + 5))

            def lookup(emails: Any = emails) -> Any:
                with registry.unit_of_work(CLUSTER) as uow:
                    return AccessService(uow).lookup_by_email(actor, next(emails), purpose="ticketing-service")

            console.log(f"(b) lookup_by_email, {label} x{args.runs} ...")
            samples, found = timed(lookup, args.runs, warmup=5)
            if (found is None) != (label != "hit"):
                raise SystemExit(f"lookup {label}: unexpected result {found!r}")
            lines.append(
                Line(
                    f"lookup_by_email box-office, {label}",
                    statistics.median(samples),
                    pct(samples, 0.95),
                    target=LOOKUP_TARGET_MS if label == "hit" else None,
                    note="UoW + policy + bidx + bases_held + decrypt + audit commit"
                    if label == "hit"
                    else "UoW + bidx + bases_held + audit commit",
                )
            )

        # (c) SQL path against the per-row Casbin loop on the sample
        role, purpose = args.loop_case.split("+")
        compiled = policy.compile(role, house, purpose)
        scope = Scope(CLUSTER, house, house_id, purpose, utcnow())
        sample_ids = select(text("id")).select_from(text("bench_sample"))

        def sql_path() -> list[uuid.UUID]:
            with registry.unit_of_work(CLUSTER) as uow:
                return AccessRepository(uow.session).visible_ids(compiled.bases, scope, among=sample_ids)

        console.log(f"(c) SQL path on {sample:,} people x{args.runs} ...")
        sql_samples, sql_ids = timed(sql_path, args.runs)
        sql_p50 = statistics.median(sql_samples)
        lines.append(
            Line(
                f"(c) SQL visible ids, {sample:,} sample, {role} + {purpose}",
                sql_p50,
                pct(sql_samples, 0.95),
                note=f"{len(sql_ids):,} visible",
            )
        )
        t0 = time.perf_counter()
        data = fetch_rows(engine, scope)
        fetch_s = time.perf_counter() - t0
        enforcer = casbin.SyncedEnforcer(str(POLICIES_DIR / "model.conf"), str(POLICIES_DIR / "policy.csv"))
        console.log(f"(c) per-row Casbin loop on {sample:,} people (cap {args.loop_cap:.0f} s) ...")
        loop_ids, done, calls, loop_s = per_row_loop(enforcer, role, scope, data, args.loop_cap)
        full = done >= len(data[0])
        loop_total_ms = loop_s * 1000 * (len(data[0]) / done)
        if full and loop_ids != set(sql_ids):
            raise SystemExit(f"per-row loop found {len(loop_ids):,} visible people, SQL {len(sql_ids):,}")
        lines.append(
            Line(
                f"(c) per-row loop, {sample:,} sample, {role} + {purpose}",
                loop_total_ms,
                None,
                note=(
                    f"{calls:,} enforce() calls, {loop_s * 1e6 / max(calls, 1):.0f} µs/call; "
                    + ("same visible set as SQL" if full else f"stopped after {done:,}, extrapolated")
                    + f"; input fetched before timing in {fetch_s:.1f} s (not counted)"
                ),
            )
        )
        lines.append(
            Line(
                "(c) per-row loop / SQL path (p50)",
                loop_total_ms / sql_p50,
                loop_total_ms / sql_p50,
                unit="x",
                target=RATIO_TARGET,
                kind="min",
                note=f"with the input fetch counted: {(loop_total_ms + fetch_s * 1000) / sql_p50:,.0f}x",
            )
        )

        for name, plan in plans.items():
            console.rule(f"EXPLAIN (ANALYZE, BUFFERS) count, {name}")
            console.print("\n".join(plan), markup=False, highlight=False)
    return lines, notes


def render(lines: list[Line], title: str) -> RichTable:
    table = RichTable(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("p50", justify="right")
    table.add_column("p95", justify="right")
    table.add_column("target", justify="right")
    table.add_column("", justify="center")
    table.add_column("notes")
    for ln in lines:
        if ln.unit == "x":
            p50, p95 = f"{ln.p50:,.0f}x", "-"
            target = f">= {ln.target:,.0f}x" if ln.target else "-"
        else:
            p50, p95 = f"{ms(ln.p50)} ms", (f"{ms(ln.p95)} ms" if ln.p95 is not None else "-")
            target = f"p95 <= {ms(ln.target)} ms" if ln.target else "-"
        status = {"PASS": "[green]PASS[/]", "MISS": "[red]MISS[/]"}.get(ln.status, "")
        table.add_row(ln.metric, p50, p95, target, status, ln.note)
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--people", type=int, default=1_000_000, help="synthetic people (default 1000000)")
    parser.add_argument("--real", type=int, default=1_000, help="real people created through the service")
    parser.add_argument("--sample", type=int, default=100_000, help="people in the SQL vs per-row sample")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per measurement (default 50)")
    parser.add_argument("--loop-case", default="marketer+newsletter", help="role+purpose for (c)")
    parser.add_argument("--loop-cap", type=float, default=240.0, help="seconds before the per-row loop extrapolates")
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server (a maintenance database on it); bench databases are created and dropped",
    )
    parser.add_argument("--seed", type=int, default=20261128, help="seed for the generators")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    lines, notes = run(args)
    console.print(
        render(lines, f"visibility — postgresql, {args.people:,} people ({time.perf_counter() - started:.0f} s)")
    )
    for note in notes:
        console.print(note)
    console.print(f"peak RSS: {peak_rss_mib():,.0f} MiB")
    misses = sum(ln.status == "MISS" for ln in lines)
    console.print(f"{misses} target(s) missed" if misses else "all targets met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
