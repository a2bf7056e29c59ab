"""Benchmark of audiences and the outbox (issue 5) on PostgreSQL: segment counts, a decrypted CSV
export, and the delivery rate of the outbox worker to a fake CRM over loopback.

Run from the repository root::

    .venv/bin/python -m bench.bench_audiences                   # 1M people, 5M sale lines
    .venv/bin/python -m bench.bench_audiences --people 100000 --sales 500000 --export 2000 --deliveries 1000

A fresh migrated cluster (made and dropped by ``bench.bench_vault.cluster``) gets 8 houses and is
filled server-side with ``generate_series`` (nothing is timed before the load and ``VACUUM (ANALYZE)``):

- ``--people`` people with random blind indexes and short random ciphertexts (never decryptable),
  as in ``bench.bench_visibility``;
- 504 events (63 per house) with a UiT event type (dance, theatre, concert; each house its own
  mix) and performances spread over two years (21 months back to 3 months ahead);
- ``--sales`` ticket lines (person, house, event, price, count, sold at, ...): the buyer of a line is
  drawn from a truncated power law (a few people buy very often, about 8 % never, the median person
  has 3 lines), 70 % of a person's lines are at their "home" house, events have a popularity skew,
  2 % of lines are anonymous and 1 % are returns (negative count); loaded ordered by ``sold_at``,
  with the secondary indexes of ``sales`` dropped during the insert and rebuilt from their own
  definitions afterwards, and foreign-key triggers off for the insert (``session_replication_role``);
- customer relations derived from the sales (one per buyer and house, first/last seen);
- newsletter consent states to house 1: likelier for its customers (60 %) than for others (25 %),
  90 % of them granted, some with an expiry (some already past), ~30 % of all people granted.

Real people (``--export`` plus a fifth more, and at least ``--deliveries``) are created through
``PeopleService.bulk_create`` (fictional, ``bench.generate``, e-mails at ``example.org``): ``--export``
of them have a granted newsletter consent to house 1 and two circus visits (an event type the
synthetic lines never use), a fifth more have the same visits and a withdrawn consent, so the
export segment "circus, at least 2 visits" selects exactly ``--export`` people.

Measured, for the marketer of house 1 (purpose newsletter):

1. ``AudienceService.count`` of "dance, performances in the last two years, at least 2 visits",
   one unit of work per run (its audit entry committed), p50/p95 over ``--runs``; then the same with
   the breakdown by month. After the load the segment bitmaps are rebuilt (the lines were loaded
   without triggers), so the count and the breakdown are answered from them; the bench checks that
   their count is the SQL statement's. The plan of the members statement (the path every other
   definition takes) is printed (EXPLAIN ANALYZE, BUFFERS).
2. ``AudienceService.export(..., fmt="csv")`` of the circus segment, end to end in one unit of work
   (members statement, consent events, export snapshot, audit, decrypt, CSV, commit).
3. The outbox: a Mailchimp destination pointing at a fake CRM served by its own process
   (``python -m fakes.mailchimp``), ``--deliveries`` upserts enqueued by
   ``OutboxService.export_members`` for consented real people, then ``OutboxWorker.run_once`` until a
   cycle finds nothing to do; deliveries/s over that whole loop. Twice: on the worker's own path
   (a cycle's deliveries to one destination go as one Mailchimp batch operation, polled) and with
   batches switched off in this process (``outbox.delivery.BATCH_FROM`` raised: one unit of work and
   one PUT per delivery). After each, one more cycle of up to 500 upserts runs with timers around
   the steps of a delivery to show where the time goes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from rich.table import Table as RichTable
from sqlalchemy import Engine, Select, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError

from bench.bench_vault import CLUSTER, Row, batches, cluster, console, fmt, peak_rss_mib
from bench.bench_visibility import pct, people_sql, pid_sql, random_bytes_sql, timed
from bench.generate import people as generate_people
from connectors.destinations.mailchimp import MailchimpDestination
from connectors.uit.classify import CIRCUS, CONCERT, DANCE, THEATRE
from consent_hub import roles
from consent_hub.access.service import AccessService
from consent_hub.actors import Actor
from consent_hub.audiences.bitmaps import SegmentBitmaps
from consent_hub.audiences.repository import SEGMENT_SETTINGS, AudienceRepository
from consent_hub.audiences.schemas import SegmentDefinition
from consent_hub.audiences.service import AudienceService
from consent_hub.audit.service import AuditLog
from consent_hub.clock import utcnow
from consent_hub.clusters import ClusterRegistry, UnitOfWork
from consent_hub.config import DestinationConfig
from consent_hub.houses.service import HouseService
from consent_hub.keys.repository import KeyStoreRepository
from consent_hub.outbox import delivery as outbox_delivery
from consent_hub.outbox.delivery import OutboxWorker
from consent_hub.outbox.repository import OutboxRepository
from consent_hub.outbox.service import OutboxService
from consent_hub.people.repository import PeopleRepository
from consent_hub.people.service import PeopleService
from consent_hub.storage import access_keys
from fakes import mailchimp as fake_crm
from fakes.server import free_port

# slug, (dance, theatre, concert) weights of its programme
HOUSES: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("schouwburg-leie", (25, 60, 15)),
    ("concertzaal-ijzer", (5, 10, 85)),
    ("theater-vlasmarkt", (15, 80, 5)),
    ("cc-de-brug", (25, 40, 35)),
    ("danshuis-mandel", (90, 10, 0)),
    ("jeugdtheater-pluim", (15, 85, 0)),
    ("festival-zomerleie", (20, 10, 70)),
    ("muziekclub-kanaal", (0, 0, 100)),
)
HOUSE = HOUSES[0][0]  # the marketer's house
EVENTS_PER_HOUSE = 63
CIRCUS_EVENTS = 6
# buyer of a line: X = n * (u^A - U0^A) / (1 - U0^A), u uniform on [U0, 1): a power law without a
# single person taking thousands of lines
SKEW_A, SKEW_U0 = 4.0, 0.2
COUNT_TARGET_MS = 200.0
EXPORT_TARGET_MS = 1000.0
RATE_TARGET = 500.0
LIST = "list-bench"
DESTINATION = "crm-bench"
MARKETER = Actor(id="bench:marketer", cluster=CLUSTER, role=roles.MARKETER, house=HOUSE)


def segment(today: dt.date) -> dict[str, Any]:
    return {
        "name": "dance, last two years, 2+ visits",
        "purpose": "newsletter",
        "filters": {
            "uit_event_types": [DANCE],
            "performance_from": (today - dt.timedelta(days=730)).isoformat(),
            "performance_to": today.isoformat(),
            "min_visits": 2,
        },
    }


EXPORT_SEGMENT: dict[str, Any] = {
    "name": "circus, 2+ visits",
    "purpose": "newsletter",
    "filters": {"uit_event_types": [CIRCUS], "min_visits": 2},
}


# -- data ----------------------------------------------------------------------------------------
def step(conn: Any, label: str, sql: str, params: dict[str, Any]) -> None:
    t0 = time.perf_counter()
    result = conn.execute(text(sql), params)
    console.log(f"  {label}: {result.rowcount:,} rows, {time.perf_counter() - t0:.1f} s")


def load_events(registry: ClusterRegistry, house_ids: dict[str, uuid.UUID], seed: int) -> None:
    """504 events of the 8 houses (plus circus events at house 1 for the real people), and the
    ``bench_events`` map (house index, popularity rank) -> event that the sales generator joins."""
    rng = random.Random(seed)
    now = utcnow()
    start = now - dt.timedelta(days=640)
    span = (now + dt.timedelta(days=90) - start).total_seconds()
    events: list[dict[str, Any]] = []
    ranks: list[dict[str, Any]] = []
    for h, (slug, weights) in enumerate(HOUSES):
        for k in range(EVENTS_PER_HOUSE):
            kind = rng.choices((DANCE, THEATRE, CONCERT), weights)[0]
            starts = (start + dt.timedelta(seconds=rng.random() * span)).replace(hour=20, minute=0, second=0)
            event_id = uuid.uuid4()
            label = {DANCE: "Dans", THEATRE: "Theater", CONCERT: "Concert"}[kind]
            events.append(
                {
                    "id": event_id,
                    "source": "bench",
                    "external_id": f"e{h}-{k}",
                    "house_id": house_ids[slug],
                    "title": f"{label} {h}-{k}",
                    "starts_at": starts,
                    "categories": f'["{label}"]',
                    "uit_event_type": kind,
                    "updated_at": now,
                }
            )
            ranks.append({"house_idx": h, "k": k, "id": event_id, "house_id": house_ids[slug], "starts_at": starts})
    for k in range(CIRCUS_EVENTS):
        events.append(
            {
                "id": uuid.uuid4(),
                "source": "bench",
                "external_id": f"circus-{k}",
                "house_id": house_ids[HOUSE],
                "title": f"Circus {k}",
                "starts_at": now - dt.timedelta(days=30 + 40 * k),
                "categories": '["Circus"]',
                "uit_event_type": CIRCUS,
                "updated_at": now,
            }
        )
    with registry.unit_of_work(CLUSTER) as uow:
        uow.session.execute(
            text(
                "INSERT INTO events (id, source, external_id, house_id, title, starts_at, categories,"
                " uit_event_type, updated_at) VALUES (:id, :source, :external_id, :house_id, :title, :starts_at,"
                " :categories, :uit_event_type, :updated_at)"
            ),
            events,
        )
        uow.session.execute(
            text(
                "CREATE TABLE bench_events (house_idx int, k int, id uuid, house_id uuid, starts_at timestamptz,"
                " PRIMARY KEY (house_idx, k))"
            )
        )
        uow.session.execute(text("INSERT INTO bench_events VALUES (:house_idx, :k, :id, :house_id, :starts_at)"), ranks)


def load_sales(engine: Engine, n: int, sales: int, seed: int) -> None:
    k0 = SKEW_U0**SKEW_A
    with engine.begin() as conn:
        conn.execute(text("SELECT setseed(:f)"), {"f": (seed % 1000) / 1000})
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        try:
            with conn.begin_nested():
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")  # no FK triggers
        except DBAPIError:
            console.log("  (not a superuser: foreign keys are checked during the load)")
        indexes = conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'sales' AND indexname NOT IN"
                " (SELECT conname FROM pg_constraint WHERE conrelid = 'sales'::regclass)"
            )
        ).all()
        for name, _ in indexes:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        step(
            conn,
            f"sales ({sales:,})",
            f"""
            WITH src AS (
                SELECT g,
                       1 + floor(:n * (power(:u0 + (1 - :u0) * random(), :a) - :k0) / (1 - :k0))::int AS p,
                       random() AS r1, random() AS r2, random() AS r3, random() AS r4,
                       random() AS r5, random() AS r6, random() AS r7, random() AS r8
                FROM generate_series(1, :sales) g
                OFFSET 0
            ), pick AS (
                SELECT src.*,
                       CASE WHEN r1 < 0.7 THEN (hashint4(p) & 2147483647) % {len(HOUSES)}
                            ELSE floor(r2 * {len(HOUSES)})::int END AS h,
                       floor({EVENTS_PER_HOUSE} * power(r3, 1.5))::int AS k
                FROM src
            )
            INSERT INTO sales (source, external_id, person_id, customer_ref, house_id, event_id, order_ref,
                               ticket_type, program, price, ticket_count, channel, sold_at)
            SELECT 'bench', 'l' || g,
                   CASE WHEN r7 < 0.02 THEN NULL ELSE {pid_sql("p")} END,
                   CASE WHEN r7 < 0.02 THEN NULL ELSE 'c' || p END,
                   e.house_id, e.id, 'o' || g,
                   CASE WHEN r6 < 0.70 THEN 'Volw.' WHEN r6 < 0.85 THEN 'Student' ELSE '65+' END, NULL,
                   1500 + floor(r5 * 30)::int * 100,
                   CASE WHEN r4 < 0.01 THEN -1 WHEN r4 < 0.46 THEN 1 WHEN r4 < 0.86 THEN 2
                        WHEN r4 < 0.96 THEN 3 ELSE 4 END,
                   CASE WHEN r8 < 0.65 THEN 'online' ELSE 'box-office' END,
                   least(now(), e.starts_at - (1 + r8 * 90) * interval '1 day') AS sold_at
            FROM pick JOIN bench_events e ON e.house_idx = pick.h AND e.k = pick.k
            ORDER BY sold_at
            """,
            {"n": n, "sales": sales, "a": SKEW_A, "u0": SKEW_U0, "k0": k0},
        )
        t0 = time.perf_counter()
        for _, definition in indexes:
            conn.exec_driver_sql(definition)
        console.log(f"  rebuilt {len(indexes)} indexes of sales: {time.perf_counter() - t0:.1f} s")


def load_synthetic(engine: Engine, registry: ClusterRegistry, args: argparse.Namespace) -> str:
    house_ids = _house_ids(engine)
    with engine.begin() as conn:
        rb, how = random_bytes_sql(conn)
        conn.execute(text("SELECT setseed(:f)"), {"f": (args.seed % 997) / 997})
        step(conn, f"people ({args.people:,})", people_sql(rb), {"n": args.people})
    load_events(registry, house_ids, args.seed)
    load_sales(engine, args.people, args.sales, args.seed)
    return how


def _house_ids(engine: Engine) -> dict[str, uuid.UUID]:
    with engine.connect() as conn:
        return {r[0]: r[1] for r in conn.execute(text("SELECT slug, id FROM houses"))}


def add_real_people(
    registry: ClusterRegistry, engine: Engine, actor: Actor, args: argparse.Namespace
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Real (decryptable) people: returns (consented ids, ids with a withdrawn consent).

    The first ``--export`` consented ones and all the withdrawn ones get two circus visits at house 1."""
    n_consented = max(args.export, args.deliveries)
    n_withdrawn = args.export // 5
    data = generate_people(n_consented + n_withdrawn, args.seed + 5)
    created: list[uuid.UUID] = []
    for chunk in batches(data, 2000):
        with registry.unit_of_work(CLUSTER) as uow:
            created.extend(PeopleService(uow).bulk_create(actor, chunk).created)
    if len(created) != len(data):
        raise SystemExit(f"created {len(created)} of {len(data)} real people")
    consented, withdrawn = created[:n_consented], created[n_consented:]
    buyers = consented[: args.export] + withdrawn
    with engine.begin() as conn:
        conn.execute(
            text(
                """
                WITH c AS (SELECT array_agg(id ORDER BY external_id) AS ids, array_agg(house_id) AS houses,
                                  array_agg(starts_at ORDER BY external_id) AS starts
                           FROM events WHERE source = 'bench' AND external_id LIKE 'circus-%'),
                b AS (SELECT p, i FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS t(p, i))
                INSERT INTO sales (source, external_id, person_id, customer_ref, house_id, event_id, order_ref,
                                   ticket_type, price, ticket_count, channel, sold_at)
                SELECT 'bench', 'real-' || b.i || '-' || v, b.p, 'real-' || b.i, c.houses[1],
                       c.ids[1 + (b.i + v) % :k], 'real-o-' || b.i || '-' || v, 'Volw.', 2200, 1 + v, 'online',
                       c.starts[1 + (b.i + v) % :k] - interval '20 days'
                FROM b CROSS JOIN c CROSS JOIN generate_series(0, 1) v
                """
            ),
            {"ids": buyers, "k": CIRCUS_EVENTS},
        )
        for ids, status in ((consented, "granted"), (withdrawn, "withdrawn")):
            conn.execute(
                text(
                    "INSERT INTO consent_states (person_id, purpose, target_kind, target_ref, status, event_id,"
                    " given_at) SELECT p, 'newsletter', 'house', :house, :status, gen_random_uuid(),"
                    " now() - interval '10 days' FROM unnest(CAST(:ids AS uuid[])) p"
                ),
                {"house": HOUSE, "status": status, "ids": ids},
            )
    return consented, withdrawn


def derive_relations_and_consents(engine: Engine, house_id: uuid.UUID, seed: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("SELECT setseed(:f)"), {"f": (seed % 991) / 991})
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        step(
            conn,
            "relations (customers, from the sales)",
            """
            INSERT INTO relations (person_id, house_id, kind, program, first_seen, last_seen)
            SELECT person_id, house_id, 'customer', '', min(sold_at), max(sold_at)
            FROM sales WHERE person_id IS NOT NULL AND ticket_count > 0
            GROUP BY person_id, house_id
            ORDER BY 1
            """,
            {},
        )
        step(
            conn,
            "newsletter consent states to house 1",
            """
            WITH src AS (
                SELECT p.id, r.person_id IS NOT NULL AS customer, random() AS r, random() AS s,
                       random() AS t, random() AS u
                FROM people p
                LEFT JOIN relations r ON r.person_id = p.id AND r.house_id = :house_id AND r.kind = 'customer'
                WHERE NOT EXISTS (SELECT 1 FROM consent_states c WHERE c.person_id = p.id)
                OFFSET 0
            )
            INSERT INTO consent_states (person_id, purpose, target_kind, target_ref, status, event_id,
                                        given_at, expires_at)
            SELECT id, 'newsletter', 'house', :house,
                   CASE WHEN s < 0.90 THEN 'granted' ELSE 'withdrawn' END,
                   gen_random_uuid(), now() - (30 + u * 700) * interval '1 day',
                   CASE WHEN t < 0.04 THEN now() - (1 + u * 200) * interval '1 day'
                        WHEN t < 0.25 THEN now() + (30 + u * 700) * interval '1 day' END
            FROM src
            WHERE r < CASE WHEN customer THEN 0.60 ELSE 0.25 END
            ORDER BY 1
            """,
            {"house_id": house_id, "house": HOUSE},
        )


# -- measurements --------------------------------------------------------------------------------
def explain(engine: Engine, stmt: Select[Any]) -> list[str]:
    compiled = stmt.compile(
        dialect=postgresql.psycopg.dialect(),  # type: ignore[no-untyped-call]
        compile_kwargs={"render_postcompile": True},  # the IN lists of the filters
    )
    with engine.begin() as conn:  # with the settings AudienceRepository gives its statements
        conn.exec_driver_sql(SEGMENT_SETTINGS)
        return [
            r[0]
            for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), compiled.construct_params())
        ]


def ms_of(samples: Sequence[float]) -> str:
    return f"p50 {fmt(statistics.median(samples), 'ms')}, min {fmt(min(samples), 'ms')}, max {fmt(max(samples), 'ms')}"


def measure_counts(registry: ClusterRegistry, engine: Engine, args: argparse.Namespace, rows: list[Row]) -> list[str]:
    """Part 1; returns the plan of the count of the members statement."""
    data = segment(utcnow().date())
    spec = SegmentDefinition.model_validate(data)
    with registry.unit_of_work(CLUSTER) as uow:
        compiled, scope = AccessService(uow).grant(MARKETER, spec.purpose)
        repo = AudienceRepository(uow.session)
        truth = repo.statement_count(spec.filters, compiled.bases, scope)
        from_bitmaps = repo.bitmap_count(spec.filters, compiled.bases, scope)
        if from_bitmaps is not None and from_bitmaps != truth:
            raise SystemExit(f"the bitmaps count {from_bitmaps}, the statement {truth}")
        path = "bitmaps" if from_bitmaps is not None else "SQL statement"
        stmt = select(func.count()).select_from(repo.members_statement(spec.filters, compiled.bases, scope).subquery())

    def count() -> dict[str, Any]:
        with registry.unit_of_work(CLUSTER) as uow:
            return AudienceService(uow).count(MARKETER, data)

    def by_month() -> dict[str, Any]:
        with registry.unit_of_work(CLUSTER) as uow:
            return AudienceService(uow).count(MARKETER, data, "month")

    console.log(f"(1) AudienceService.count x{args.runs} ...")
    samples, shown = timed(count, args.runs)
    rows.append(
        Row(
            f"segment count, p95 of {args.runs}",
            pct(samples, 0.95),
            "ms",
            COUNT_TARGET_MS,
            "max",
            f"{ms_of(samples)}; {truth:,} members (shown {shown['count']}); bases {','.join(compiled.bases)}; "
            f"answered by the {path}",
        )
    )
    console.log(f"(1) AudienceService.count with breakdown by month x{args.runs} ...")
    samples, shown = timed(by_month, args.runs)
    cells = shown["breakdown"] or {}
    rows.append(
        Row(
            f"segment count + breakdown by month, p95 of {args.runs}",
            pct(samples, 0.95),
            "ms",
            COUNT_TARGET_MS,
            "max",
            f"{ms_of(samples)}; {len(cells)} months",
        )
    )
    return explain(engine, stmt)


EXPORT_STEPS: tuple[tuple[str, Any, str], ...] = (
    ("grant (policy, house)", AccessService, "grant"),
    ("members, their consent events, snapshot rows (one statement)", AudienceRepository, "snapshot_members"),
    ("decrypt (PeopleService.read_members)", PeopleService, "read_members"),
    ("  of which ciphertext read", PeopleRepository, "ciphertexts"),
    ("  audit append (the export's one entry)", AuditLog, "append"),
    ("  of which key-store read", KeyStoreRepository, "wrapped"),
    ("commit (key store, then cluster db)", UnitOfWork, "commit"),
)


def breakdown(
    steps: Sequence[tuple[str, Any, str]], spent: dict[str, list[float]], total: float, n: int, rest: str
) -> Profile:
    """(label, seconds, calls) per step, with the remainder of ``total`` not in a top-level step."""
    profile: Profile = [("whole", total, n)]
    profile += [(label, sum(spent.get(label, [])), len(spent.get(label, []))) for label, _, _ in steps]
    accounted = sum(s for label, s, _ in profile[1:] if not label.startswith("  "))
    profile.append((rest, total - accounted, n))
    return profile


def measure_export(registry: ClusterRegistry, args: argparse.Namespace, rows: list[Row]) -> Profile:
    """Part 2; returns the steps of one more (profiled) export."""

    def export() -> bytes:
        with registry.unit_of_work(CLUSTER) as uow:
            result = AudienceService(uow).export(MARKETER, EXPORT_SEGMENT, fmt="csv")
        assert result.content is not None
        return result.content

    console.log(f"(2) AudienceService.export csv x{args.export_runs} ...")
    samples, content = timed(export, args.export_runs, warmup=1)
    lines = content.decode("utf-8").splitlines()
    if len(lines) - 1 != args.export:
        raise SystemExit(f"the export holds {len(lines) - 1} members, expected {args.export}")
    rows.append(
        Row(
            f"export {args.export:,} members to CSV, p50 of {args.export_runs}",
            statistics.median(samples),
            "ms",
            EXPORT_TARGET_MS if args.export == 10_000 else None,
            "max",
            f"{ms_of(samples)}; {len(content) / 1024:,.0f} KiB; columns {lines[0]}",
        )
    )
    console.log("(2) one more export with timers around its steps ...")
    with stopwatch(EXPORT_STEPS) as spent:
        t0 = time.perf_counter()
        export()
        total = time.perf_counter() - t0
    return breakdown(EXPORT_STEPS, spent, total, args.export, "rest (UoW, ORM, CSV)")


@contextmanager
def stopwatch(targets: Sequence[tuple[str, Any, str]]) -> Iterator[dict[str, list[float]]]:
    """Time every call of the given methods (label, class, name) while inside; restores them."""
    spent: dict[str, list[float]] = {}
    originals: list[tuple[Any, str, Any]] = []

    def wrap(label: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def timed_call(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                spent.setdefault(label, []).append(time.perf_counter() - t0)

        return timed_call

    for label, owner, name in targets:
        original = getattr(owner, name)
        originals.append((owner, name, original))
        setattr(owner, name, wrap(label, original))
    try:
        yield spent
    finally:
        for owner, name, original in reversed(originals):
            setattr(owner, name, original)


PROFILED: tuple[tuple[str, Any, str], ...] = (
    ("cycle: enqueue_expiries", OutboxService, "enqueue_expiries"),
    ("cycle: claim", OutboxRepository, "claim_with_destination"),
    ("delivery rows (OutboxRepository.get_many)", OutboxRepository, "get_many"),
    ("person statuses (PeopleRepository.statuses)", PeopleRepository, "statuses"),
    ("sent before (OutboxRepository.delivered_among)", OutboxRepository, "delivered_among"),
    ("consent re-check (OutboxRepository.granted_among)", OutboxRepository, "granted_among"),
    ("audited decrypt (PeopleService.read)", PeopleService, "read"),
    ("  of which audit append", AuditLog, "append"),
    ("  of which key-store read", KeyStoreRepository, "wrapped"),
    ("HTTP: one PUT per delivery (adapter.deliver)", MailchimpDestination, "deliver"),
    ("HTTP: batch POST, polls, results (deliver_many)", MailchimpDestination, "deliver_many"),
    ("commit (key store, then cluster db)", UnitOfWork, "commit"),
)
Profile = list[tuple[str, float, int]]


@contextmanager
def single_requests() -> Iterator[None]:
    """The worker's path without batches: every delivery its own unit of work and request."""
    saved = outbox_delivery.BATCH_FROM
    outbox_delivery.BATCH_FROM = 10**9
    try:
        yield
    finally:
        outbox_delivery.BATCH_FROM = saved


def start_fake() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakes.mailchimp", "--port", str(port), "--lists", LIST],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/3.0/ping", auth=("bench", fake_crm.DEFAULT_API_KEY), timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit("the fake CRM did not start")
        time.sleep(0.2)


def crm_stats(base: str) -> tuple[int, int]:
    """(requests answered so far, subscribed members of the bench list) according to the fake."""
    stats = httpx.get(f"{base}/_fake/stats", auth=("bench", fake_crm.DEFAULT_API_KEY)).json()
    return int(stats["requests"]), int(stats["members"].get(LIST, {}).get("subscribed", 0))


def enqueue(registry: ClusterRegistry, people: Sequence[uuid.UUID], tag: str) -> None:
    with registry.unit_of_work(CLUSTER) as uow:
        OutboxService(uow).export_members(DESTINATION, people, f"bench-{tag}-{uuid.uuid4()}")


def drain(worker: OutboxWorker) -> tuple[float, int, int, str]:
    """``run_once`` until a cycle finds nothing to do: (seconds, delivered, cycles, other outcomes)."""
    delivered = retried = dead = superseded = cycles = 0
    t0 = time.perf_counter()
    while True:
        report = worker.run_once()
        cycles += 1
        delivered += report.delivered
        retried += report.retried
        dead += report.dead
        superseded += report.superseded
        if not (report.delivered or report.retried or report.superseded or report.dead):
            break
    return time.perf_counter() - t0, delivered, cycles, f"retried {retried}, dead {dead}, superseded {superseded}"


def profiled_cycle(registry: ClusterRegistry, worker: OutboxWorker, people: Sequence[uuid.UUID]) -> Profile:
    """One cycle of ``len(people)`` upserts with timers around its steps (they add a little overhead)."""
    enqueue(registry, people, "profile")
    with stopwatch(PROFILED) as spent:
        c0 = time.perf_counter()
        report = worker.run_once()
        cycle_s = time.perf_counter() - c0
    if report.delivered != len(people):
        raise SystemExit(f"profiled cycle delivered {report.delivered} of {len(people)}")
    return breakdown(PROFILED, spent, cycle_s, len(people), "rest (UoW open/close, ORM flush, Python)")


def measure_outbox(
    registry: ClusterRegistry, consented: Sequence[uuid.UUID], args: argparse.Namespace, rows: list[Row]
) -> dict[str, Profile]:
    """Part 3, through the worker's default path (batches where the adapter offers them) and
    again with single requests; returns one profiled cycle of each."""
    profiles: dict[str, Profile] = {}
    proc, base = start_fake()
    try:
        registry.settings.clusters[CLUSTER].destinations[DESTINATION] = DestinationConfig(
            kind="mailchimp",
            base_url=f"{base}/3.0",
            house=HOUSE,
            purpose="newsletter",
            list_id=LIST,
            api_key=fake_crm.DEFAULT_API_KEY,
            backoff_base_seconds=0.0,
            backoff_max_seconds=0.0,
            timeout_seconds=10,
        )
        people = list(consented[: args.deliveries])
        extra = people[: min(500, len(people))]
        worker = OutboxWorker(registry, CLUSTER)
        try:
            for path in ("batches", "single requests"):
                enqueue(registry, people, path)
                requests_before, _ = crm_stats(base)
                console.log(f"(3) OutboxWorker.run_once until idle, {len(people):,} upserts, {path} ...")
                with single_requests() if path == "single requests" else nullcontext():
                    seconds, delivered, cycles, others = drain(worker)
                    requests, subscribed = crm_stats(base)
                    if delivered != len(people) or subscribed != len(people):
                        raise SystemExit(
                            f"{path}: delivered {delivered} of {len(people)} (fake CRM: {subscribed} subscribed; "
                            f"{others})"
                        )
                    rows.append(
                        Row(
                            f"outbox: {len(people):,} upserts to the fake CRM, {path}",
                            delivered / seconds,
                            "deliveries/s",
                            # the target is the worker's rate; it sends one request per delivery
                            # only below BATCH_FROM due deliveries, so that row is for comparison
                            RATE_TARGET if path == "batches" else None,
                            "min",
                            f"{seconds:.1f} s, {fmt(seconds * 1000 / delivered, 'ms')}/delivery; {cycles} cycles "
                            f"(incl. the idle one); {requests - requests_before:,} API requests; "
                            f"{subscribed:,} subscribed in the CRM; {others}",
                        )
                    )
                    console.log(f"(3) profiled cycle of {len(extra)} upserts, {path} ...")
                    profiles[path] = profiled_cycle(registry, worker, extra)
        finally:
            worker.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        registry.settings.clusters[CLUSTER].destinations.pop(DESTINATION, None)
    return profiles


# -- main ----------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> tuple[list[Row], list[str], list[str], dict[str, Profile]]:
    rows: list[Row] = []
    notes: list[str] = []
    operator = Actor.cli(CLUSTER)
    with (
        tempfile.TemporaryDirectory(prefix="consent-hub-bench-") as tmp,
        cluster("postgresql", args.pg_url, Path(tmp)) as (registry, _plain),
    ):
        engine = registry.runtime(CLUSTER).engine
        with registry.unit_of_work(CLUSTER) as uow:
            houses = HouseService(uow)
            for slug, _ in HOUSES:
                houses.add(operator, {"slug": slug, "name": slug.replace("-", " ").title()})

        t0 = time.perf_counter()
        console.log(f"loading {args.people:,} people, {args.sales:,} sale lines (server-side) ...")
        how = load_synthetic(engine, registry, args)
        console.log("creating real people through PeopleService.bulk_create ...")
        consented, withdrawn = add_real_people(registry, engine, operator, args)
        derive_relations_and_consents(engine, _house_ids(engine)[HOUSE], args.seed)
        with registry.unit_of_work(CLUSTER) as uow:  # the SQL-loaded rows bypassed the key maintenance
            access_keys.rebuild_all(uow.session)
        t_bits = time.perf_counter()
        with registry.unit_of_work(CLUSTER) as uow:  # and the lines loaded without triggers, their bitmaps
            rebuilt = SegmentBitmaps(uow.session).rebuild_all()
        console.log(f"  segment bitmaps: {rebuilt:,} (event, house) pairs, {time.perf_counter() - t_bits:.1f} s")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("DROP TABLE bench_events")
            conn.exec_driver_sql("VACUUM (ANALYZE)")  # as autovacuum would, and so not during the timings
            # the load wrote ~3 GB within minutes; flush it now rather than let the checkpointer
            # compete for the disk with the timed parts (a hub's data arrives over months)
            conn.exec_driver_sql("CHECKPOINT")
            sizes = conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM people), (SELECT count(*) FROM events),"
                    " (SELECT count(*) FROM sales), (SELECT count(*) FROM relations),"
                    " (SELECT count(*) FILTER (WHERE status = 'granted'"
                    "   AND (expires_at IS NULL OR expires_at > now())) FROM consent_states),"
                    " (SELECT count(DISTINCT person_id) FROM sales),"
                    " pg_size_pretty(pg_database_size(current_database()))"
                )
            ).one()
            spread = conn.execute(
                text(
                    "SELECT percentile_disc(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY n), max(n) FROM"
                    " (SELECT count(*) AS n FROM sales WHERE person_id IS NOT NULL GROUP BY person_id) s"
                )
            ).one()
        load_s = time.perf_counter() - t0
        notes.append(
            f"data: {sizes[0]:,} people ({len(consented) + len(withdrawn):,} real), {sizes[1]:,} events, "
            f"{sizes[2]:,} sale lines by {sizes[5]:,} buyers (lines per buyer: median {spread[0][0]}, "
            f"p99 {spread[0][1]}, max {spread[1]}), {sizes[3]:,} customer relations, {sizes[4]:,} granted "
            f"newsletter consents to house 1 ({sizes[4] / sizes[0]:.0%}); database {sizes[6]}; "
            f"loaded in {load_s:.0f} s ({how}), then VACUUM (ANALYZE) and CHECKPOINT"
        )
        console.log(notes[-1])

        plan = measure_counts(registry, engine, args, rows)
        profiles = {f"export of {args.export:,} members": measure_export(registry, args, rows)}
        for path, profile in measure_outbox(registry, consented, args, rows).items():
            profiles[f"outbox cycle, {path} ({profile[0][2]} upserts)"] = profile
    return rows, notes, plan, profiles


def render(rows: Sequence[Row], title: str) -> RichTable:
    table = RichTable(title=title, title_justify="left")
    for col in ("metric", "result", "target", "", "notes"):
        table.add_column(col, justify="right" if col in ("result", "target") else "left")
    for row in rows:
        status = {"PASS": "[green]PASS[/]", "MISS": "[red]MISS[/]"}.get(row.status, "")
        table.add_row(row.metric, fmt(row.value, row.unit), row.target_text(), status, row.note)
    return table


def render_profile(what: str, profile: Profile) -> RichTable:
    cycle_s, n = profile[0][1], profile[0][2]
    table = RichTable(title=f"where the time goes: one profiled {what}", title_justify="left")
    for col in ("step", "calls", "total", "per member / delivery", "share"):
        table.add_column(col, justify="left" if col == "step" else "right")
    for label, seconds, calls in profile:
        table.add_row(
            label, f"{calls:,}", fmt(seconds * 1000, "ms"), f"{seconds * 1000 / n:.2f} ms", f"{seconds / cycle_s:.0%}"
        )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--people", type=int, default=1_000_000, help="synthetic people (default 1000000)")
    parser.add_argument("--sales", type=int, default=5_000_000, help="synthetic sale lines (default 5000000)")
    parser.add_argument("--export", type=int, default=10_000, help="members of the CSV export (default 10000)")
    parser.add_argument("--deliveries", type=int, default=5_000, help="upserts through the outbox (default 5000)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per count (default 20)")
    parser.add_argument("--export-runs", type=int, default=5, help="timed exports (default 5)")
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server (a maintenance database on it); bench databases are created and dropped",
    )
    parser.add_argument("--seed", type=int, default=20261128, help="seed for the generators")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows, notes, plan, profiles = run(args)
    console.rule("EXPLAIN (ANALYZE, BUFFERS) of the segment count")
    console.print("\n".join(plan), markup=False, highlight=False)
    for path, profile in profiles.items():
        console.print(render_profile(path, profile))
    console.print(
        render(
            rows,
            f"audiences and outbox — postgresql, {args.people:,} people, {args.sales:,} lines "
            f"({time.perf_counter() - started:.0f} s)",
        )
    )
    for note in notes:
        console.print(note)
    console.print(f"peak RSS: {peak_rss_mib():,.0f} MiB")
    misses = sum(row.status == "MISS" for row in rows)
    console.print(f"{misses} target(s) missed" if misses else "all targets met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
