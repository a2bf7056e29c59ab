"""Ticketmatic sync end to end, over real HTTP against the fake Ticketmatic, on SQLite and PostgreSQL.

Two engine accounts are two houses: every check below is also a check that what one account
holds (a customer, an opt-in, a sale) lands at that account's house and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from connectors.sources import ticketmatic
from connectors.sources.base import RetryPolicy, RunOutcome, SyncContext
from consent_hub.config import ConnectorConfig, ProgramMapping
from consent_hub.consent.service import ConsentService
from consent_hub.houses.service import HouseService
from consent_hub.ingest.records import PageResult
from fakes import ticketmatic as fake
from fakes.server import RunningServer, serve_in_thread
from tests.conftest import Hub
from tests.factories import table_counts

KEY, SECRET = "tm-test-key", "tm-test-secret"
NOORD, OOST = "zaal-noord", "podium-oost"
HOUSES = {NOORD: "schouwburg-noord", OOST: "kaaitheater-oost"}  # slugs unlike the account names on purpose
FAST = RetryPolicy(max_attempts=8, base=0.01, cap=0.05)
# every table but the run log itself: a sync run adds one run and its two audit entries
RUN_LOG = {"sync_runs", "sync_skips", "audit_entries", "audit_head"}


@dataclass
class Engine:
    world: fake.TicketmaticWorld
    server: RunningServer

    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.server.url}/_fake/{path}"
        headers = fake.sign_headers(KEY, SECRET, "")
        if body is None:
            response = httpx.get(url, headers=headers, timeout=10)
        else:
            response = httpx.post(url, json=body, headers=headers, timeout=10)
        response.raise_for_status()
        return response.json()

    def config(self, **overrides: Any) -> ConnectorConfig:
        values: dict[str, Any] = {
            "kind": "ticketmatic",
            "base_url": f"{self.server.url}/api/1",
            "access_key": KEY,
            "secret": SECRET,
            "page_size": 20,
            "programs": {"1": ProgramMapping(program="abo-noord-oost", houses=list(HOUSES.values()))},
        }
        values.update(overrides)
        return ConnectorConfig(**values)

    def contacts(self, account: str) -> list[fake.Contact]:
        return list(self.world.accounts[account].contacts.records.values())

    def orders(self, account: str) -> list[fake.Order]:
        return list(self.world.accounts[account].orders.records.values())


@pytest.fixture
def engine() -> Iterator[Engine]:
    world = fake.build_world(seed=11, size="test")
    with serve_in_thread(fake.create_app(world, access_key=KEY, secret=SECRET)) as server:
        yield Engine(world, server)


@pytest.fixture
def town(hub: Hub) -> Hub:
    with hub.uow() as uow:
        ConsentService(uow).sync_notices(hub.actor())
        for account, slug in HOUSES.items():
            HouseService(uow).add(
                hub.actor(), {"slug": slug, "name": slug.replace("-", " ").title(), "ticketmatic_account": account}
            )
    return hub


@dataclass
class Recorder:
    """The progress a CLI would show: totals announced per stream, rows read per stream."""

    totals: list[tuple[str, int | None]] = field(default_factory=list)
    read: Counter[str] = field(default_factory=Counter)

    def stream_started(self, stream: str, total: int | None) -> None:
        self.totals.append((stream, total))

    def page_committed(self, stream: str, result: PageResult) -> None:
        self.read[stream] += result.read


def run(hub: Hub, cfg: ConnectorConfig, policy: RetryPolicy = FAST, **options: Any) -> RunOutcome:
    outcome: RunOutcome = ticketmatic.sync(hub.registry, "alpha", "tm", cfg, policy=policy, **options)
    return outcome


def count(hub: Hub, sql: str, **params: Any) -> int:
    return int(hub.sql(sql, **params)[0][0])


def run_row(hub: Hub, outcome: RunOutcome) -> tuple[Any, ...]:
    for status, retries, error, run_id in hub.sql("SELECT status, retries, error, id FROM sync_runs"):
        if str(run_id).replace("-", "") == outcome.run_id.hex:
            return status, retries, error
    raise AssertionError("run not recorded")


def house_ids(hub: Hub) -> dict[str, str]:
    """account -> house id (as the database returns it)."""
    by_slug = {slug: str(hid) for hid, slug in hub.sql("SELECT id, slug FROM houses")}
    return {account: by_slug[slug] for account, slug in HOUSES.items()}


def person_of(hub: Hub, account: str, contact_id: int) -> str | None:
    rows = hub.sql(
        "SELECT person_id FROM engine_customers WHERE source = :s AND external_id = :x",
        s=f"tm:{account}",
        x=str(contact_id),
    )
    return str(rows[0][0]) if rows and rows[0][0] is not None else None


def newsletter(c: fake.Contact) -> int:
    return next((o.status for o in c.optins if o.optinid == fake.OPTIN_NEWSLETTER), fake.OPTIN_UNKNOWN)


def states(hub: Hub) -> dict[tuple[str, str], str]:
    """(person, house slug) -> newsletter status."""
    return {
        (str(p), ref): status
        for p, ref, status in hub.sql(
            "SELECT person_id, target_ref, status FROM consent_states WHERE purpose = 'newsletter'"
        )
    }


def expected_people(engine: Engine) -> int:
    """One person per distinct e-mail of a contact that is not deleted, plus one per contact without one."""
    truth = engine.control("truth")
    without = sum(1 for a in (NOORD, OOST) for c in engine.contacts(a) if not c.email and not c.isdeleted)
    return int(truth["distinct_emails_active"]) + without


# -- 1. a full sync ------------------------------------------------------------------------------


def test_full_sync_one_person_per_email_customers_at_their_own_house(town: Hub, engine: Engine) -> None:
    progress = Recorder()
    outcome = run(town, engine.config(), progress=progress)
    assert outcome.status == "succeeded", outcome.error
    truth = engine.control("truth")

    assert count(town, "SELECT count(*) FROM people") == expected_people(engine)
    for account in (NOORD, OOST):
        mapped = count(town, "SELECT count(*) FROM engine_customers WHERE source = :s", s=f"tm:{account}")
        assert mapped == truth["accounts"][account]["contacts_active"]  # deleted before first seen: never imported
    assert count(town, "SELECT count(*) FROM events") == sum(a["events"] for a in truth["accounts"].values())
    assert count(town, "SELECT count(*) FROM sales") == truth["tickets"]
    assert count(town, "SELECT count(*) FROM sales WHERE person_id IS NULL") == 0

    # customer relations: exactly the houses whose account holds the person's contact
    houses = house_ids(town)
    by_source = {f"tm:{a}": h for a, h in houses.items()}
    linked = town.sql("SELECT source, person_id, house_id FROM engine_customers WHERE status = 'linked'")
    assert all(str(h) == by_source[s] for s, _, h in linked)
    customers = {
        (str(p), str(h)) for p, h in town.sql("SELECT person_id, house_id FROM relations WHERE kind = 'customer'")
    }
    assert customers == {(str(p), by_source[s]) for s, p, _ in linked}

    # the same e-mail (in any letter case) in both accounts: one person, a customer of both houses
    noord = {c.email.lower(): c for c in engine.contacts(NOORD) if c.email and not c.isdeleted}
    oost = {c.email.lower(): c for c in engine.contacts(OOST) if c.email and not c.isdeleted}
    shared = sorted(set(noord) & set(oost))
    assert len(shared) >= 3
    for email in shared:
        person = person_of(town, NOORD, noord[email].id)
        assert person is not None and person == person_of(town, OOST, oost[email].id)
        assert {h for p, h in customers if p == person} == set(houses.values())
    only_noord = next(e for e in noord if e not in oost)
    person = person_of(town, NOORD, noord[only_noord].id)
    assert {h for p, h in customers if p == person} == {houses[NOORD]}

    # a program product sold by one account: the membership, and subscriber relations where the program says
    products = sum(1 for a in (NOORD, OOST) for o in engine.orders(a) for p in o.products if p[1] == 1)
    assert products > 0
    assert count(town, "SELECT count(*) FROM program_memberships") == products
    members = {str(p) for (p,) in town.sql("SELECT person_id FROM program_memberships")}
    subscribers = town.sql("SELECT person_id, house_id, program FROM relations WHERE kind = 'subscriber'")
    assert {(str(p), str(h), g) for p, h, g in subscribers} == {
        (p, h, "abo-noord-oost") for p in members for h in houses.values()
    }

    # the only notes: contacts imported without an unusable phone number (by id, never the number)
    for stream, ref, reason in town.sql("SELECT stream, record_ref, reason FROM sync_skips"):
        assert (stream, ref.split(":")[1], reason.split(":")[0]) == ("contacts", "phone", "phone")

    # cursors per (account, stream); a progress total per stream from nbrofresults
    cursors = {(s, p) for s, p in town.sql("SELECT stream, partition FROM connector_state WHERE connector = 'tm'")}
    assert cursors == {(s, a) for s in ("events", "contacts", "orders") for a in (NOORD, OOST)}
    assert [s for s, _ in progress.totals] == ["events", "contacts", "orders"] * 2
    orders_total = sum(t or 0 for s, t in progress.totals if s == "orders")
    assert orders_total == sum(a["orders"] for a in truth["accounts"].values()) == progress.read["orders"]

    assert run_row(town, outcome)[0] == "succeeded"


# -- 2. opt-ins --------------------------------------------------------------------------------------


def test_opt_ins_count_for_the_collecting_house_only(town: Hub, engine: Engine) -> None:
    assert run(town, engine.config()).status == "succeeded"
    truth = engine.control("truth")
    rows = town.sql("SELECT target_ref, status, count(*) FROM consent_states GROUP BY target_ref, status")
    houses_by_slug = {(ref, status): int(n) for ref, status, n in rows}
    for account, slug in HOUSES.items():
        optins = truth["accounts"][account]["newsletter_optins"]
        assert houses_by_slug.get((slug, "granted"), 0) == optins["7602"]
        assert houses_by_slug.get((slug, "refused"), 0) == optins["7603"]
    assert {ref for ref, _ in houses_by_slug} == set(HOUSES.values())  # no other target, no cluster-wide consent
    events = town.sql("SELECT DISTINCT channel, target_kind, purpose FROM consent_events")
    assert events == [("engine-import", "house", "newsletter")]

    # person by person: a decision at exactly the house whose account holds it (7601: none at all)
    people = {(s, x): str(p) for s, x, p in town.sql("SELECT source, external_id, person_id FROM engine_customers")}
    meaning = {fake.OPTIN_YES: "granted", fake.OPTIN_NO: "refused"}
    expected = {
        (people[(f"tm:{account}", str(c.id))], HOUSES[account]): meaning[newsletter(c)]
        for account in (NOORD, OOST)
        for c in engine.contacts(account)
        if not c.isdeleted and newsletter(c) in meaning
    }
    assert states(town) == expected

    # buyers known to both houses who decided differently at each: the decisions stay apart
    noord = {c.email.lower(): c for c in engine.contacts(NOORD) if c.email and not c.isdeleted}
    split = [
        people[(f"tm:{OOST}", str(c.id))]
        for c in engine.contacts(OOST)
        if c.email and not c.isdeleted and c.email.lower() in noord
        if (newsletter(c) == fake.OPTIN_YES) != (newsletter(noord[c.email.lower()]) == fake.OPTIN_YES)
    ]
    assert split
    for person in split:
        granted = [ref for (p, ref), status in expected.items() if p == person and status == "granted"]
        assert len(granted) == 1


# -- 3. idempotence, refunds and changed opt-ins ---------------------------------------------------


def test_rerun_writes_nothing_and_changes_replace_what_they_change(town: Hub, engine: Engine) -> None:
    cfg = engine.config()
    assert run(town, cfg).status == "succeeded"
    before = table_counts(town)
    audit_seq = count(town, "SELECT max(seq) FROM audit_entries")
    assert run(town, cfg).status == "succeeded"
    after = table_counts(town)
    changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
    assert changed.keys() <= RUN_LOG, changed
    assert after["sync_runs"] == before["sync_runs"] + 1
    actions = [a for (a,) in town.sql("SELECT action FROM audit_entries WHERE seq > :s ORDER BY seq", s=audit_seq)]
    assert actions == ["sync.start", "sync.finish"]

    # refunds and opt-in changes at Noord
    statuses_before = {c.id: newsletter(c) for c in engine.contacts(NOORD)}
    oost_states = {k: v for k, v in states(town).items() if k[1] == HOUSES[OOST]}
    summary = engine.control("advance", {"account": NOORD, "refunds": 4, "optin_changes": 20, "deletions": 2})
    done = summary["accounts"][NOORD]
    assert done["refunds"] and done["optin_changes"] and done["deletions"]
    outcome = run(town, cfg)
    assert outcome.status == "succeeded", outcome.error
    later = table_counts(town)

    for refund in done["refunds"]:
        gone = "SELECT count(*) FROM sales WHERE source = :s AND external_id = :x"
        assert count(town, gone, s=f"tm:{NOORD}", x=str(refund["ticketid"])) == 0
        order_lines = "SELECT count(*) FROM sales WHERE source = :s AND order_ref = :o"
        order = engine.world.accounts[NOORD].orders.records[refund["orderid"]]
        assert count(town, order_lines, s=f"tm:{NOORD}", o=str(refund["orderid"])) == len(order.tickets)
    assert later["sales"] == after["sales"] - len(done["refunds"])
    for table in ("people", "engine_customers", "events", "relations", "program_memberships", "connector_state"):
        assert later[table] == after[table], table

    for cid in done["deletions"]:
        row = town.sql(
            "SELECT status FROM engine_customers WHERE source = :s AND external_id = :x", s=f"tm:{NOORD}", x=str(cid)
        )
        assert row == [("deleted",)]
    newsletter_changes = {c["contactid"] for c in done["optin_changes"] if c["optinid"] == fake.OPTIN_NEWSLETTER}
    newsletter_changes -= set(done["deletions"])  # a deleted contact's decisions are not imported any more
    assert later["consent_events"] == after["consent_events"] + len(newsletter_changes)
    now = states(town)
    withdrawn = 0
    for cid in newsletter_changes:
        contact = engine.world.accounts[NOORD].contacts.records[cid]
        person = person_of(town, NOORD, cid)
        assert person is not None
        status = now[(person, HOUSES[NOORD])]
        if newsletter(contact) == fake.OPTIN_YES:
            assert status == "granted"
        elif statuses_before[cid] == fake.OPTIN_YES:
            assert status == "withdrawn"
            withdrawn += 1
        else:
            assert status == "refused"
    assert withdrawn > 0
    assert {k: v for k, v in now.items() if k[1] == HOUSES[OOST]} == oost_states  # the other house: untouched

    # and once more: nothing new
    assert run(town, cfg).status == "succeeded"
    final = table_counts(town)
    assert {t for t in final if final[t] != later[t]} <= RUN_LOG


# -- 4. rate limits, server errors, wrong credentials ----------------------------------------------


def test_rate_limits_and_server_errors_are_retried(town: Hub, engine: Engine) -> None:
    engine.control("faults", {"rate_limit": 2, "retry_after": 1, "server_errors": 3, "fail_every": 9})
    waits: list[float] = []
    policy = RetryPolicy(max_attempts=8, base=0.01, cap=0.05, sleep=waits.append)
    outcome = run(town, engine.config(), policy)
    assert outcome.status == "succeeded", outcome.error
    status, retries, _ = run_row(town, outcome)
    assert status == "succeeded" and retries >= 5
    assert waits[:2] == [1.0, 1.0]  # Retry-After honoured
    assert count(town, "SELECT count(*) FROM people") == expected_people(engine)
    assert count(town, "SELECT count(*) FROM sales") == engine.control("truth")["tickets"]


def test_wrong_secret_fails_the_run_and_writes_nothing(town: Hub, engine: Engine) -> None:
    outcome = run(town, engine.config(secret="not-the-secret"))
    assert outcome.status == "failed"
    assert outcome.error is not None and "authentication" in outcome.error
    status, _, error = run_row(town, outcome)
    assert status == "failed" and "authentication" in error
    for table in ("people", "engine_customers", "events", "sales", "relations", "consent_events", "connector_state"):
        assert count(town, f"SELECT count(*) FROM {table}") == 0, table


def test_retries_exhausted_fail_the_run(town: Hub, engine: Engine) -> None:
    engine.control("faults", {"server_errors": 50})
    outcome = run(town, engine.config(), RetryPolicy(max_attempts=3, base=0.0, cap=0.0, sleep=lambda _s: None))
    assert outcome.status == "failed" and outcome.error is not None and "giving up" in outcome.error
    assert count(town, "SELECT count(*) FROM people") == 0


# -- 5. malformed records ------------------------------------------------------------------------


def test_malformed_records_are_skipped_by_field_never_by_value(town: Hub, engine: Engine) -> None:
    bad_contacts = [c for c in engine.contacts(NOORD) if c.email and not c.isdeleted][3:5]
    bad_orders = [o for o in engine.orders(OOST) if o.tickets][7:9]
    engine.control(
        "faults", {"malformed_contacts": [c.id for c in bad_contacts], "malformed_orders": [o.id for o in bad_orders]}
    )
    outcome = run(town, engine.config())
    assert outcome.status == "succeeded", outcome.error

    skips = town.sql("SELECT stream, record_ref, reason FROM sync_skips")
    by_ref = {(stream, ref): reason for stream, ref, reason in skips}
    for c in bad_contacts:
        assert "email" in by_ref[("contacts", str(c.id))]
    for o in bad_orders:
        assert "tickets" in by_ref[("orders", str(o.id))]
    secrets = {"not-an-address", "garbage", "@"}
    for c in bad_contacts:
        secrets |= {c.firstname, c.lastname, c.email or "@", (c.email or "@").split("@")[0]}
    detail = " ".join(d for (d,) in town.sql("SELECT detail FROM sync_runs"))
    for text in [r for _, _, r in skips] + [detail]:
        assert not any(s in text for s in secrets), text

    # everything else is imported
    mapped = count(town, "SELECT count(*) FROM engine_customers WHERE source = :s", s=f"tm:{NOORD}")
    assert mapped == sum(1 for c in engine.contacts(NOORD) if not c.isdeleted) - len(bad_contacts)
    sold = {x for (x,) in town.sql("SELECT external_id FROM sales WHERE source = :s", s=f"tm:{OOST}")}
    expected = {str(t[0]) for o in engine.orders(OOST) if o not in bad_orders for t in o.tickets}
    assert sold == expected
    run_detail = json.loads(next(d for (d, s) in town.sql("SELECT detail, status FROM sync_runs") if s == "succeeded"))
    assert run_detail["streams"]["contacts"]["skipped"] >= len(bad_contacts)
    assert run_detail["streams"]["orders"]["skipped"] >= len(bad_orders)


# -- paging --------------------------------------------------------------------------------------


def test_paging_survives_records_changing_mid_run(engine: Engine) -> None:
    """Many orders share one second (more than a page holds); orders refunded while the list is read
    move past the run's upper bound. No order that did not change is lost or read twice (a plain
    growing offset would skip as many as moved from the part already read)."""
    world = engine.world
    tie = world.anchor_dt + dt.timedelta(seconds=5)
    tied = {r["orderid"] for r in world.advance(NOORD, refunds=12, now=tie)["accounts"][NOORD]["refunds"]}
    assert len(tied) > 3
    source = ticketmatic.build("tm", engine.config(page_size=3))
    ctx = SyncContext("tm", source.config, tie, {NOORD: HOUSES[NOORD]})
    stream = ticketmatic.OrdersStream("tm", NOORD, HOUSES[NOORD], 3)
    http = source.http(FAST)
    since = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    seen: list[int] = []
    moved: set[int] = set()
    try:
        assert stream.total(http, since, ctx) == len(engine.orders(NOORD))
        for i, page in enumerate(stream.pages(http, since, ctx)):
            seen += [r["orderid"] for r in page.records]
            if i % 5 == 2:
                later = tie + dt.timedelta(seconds=10 + i)
                moved |= {
                    r["orderid"] for r in world.advance(NOORD, refunds=2, now=later)["accounts"][NOORD]["refunds"]
                }
    finally:
        http.close()
    assert moved
    assert len(seen) == len(set(seen))
    assert {o.id for o in engine.orders(NOORD)} - moved <= set(seen)
    assert tied - moved <= set(seen)
