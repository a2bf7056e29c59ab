"""Tixly sync end to end, over real HTTP against the fake Tixly, on SQLite and PostgreSQL.

The comparisons use a canonical dump of what a sync writes (engine ids instead of the hub's random
person ids), so "identical" means: the same customers matched to the same people, the same sales,
relations, consents and memberships, nothing twice and nothing missing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.sources import tixly
from connectors.sources.base import RetryPolicy, RunOutcome
from consent_hub import roles
from consent_hub.access.service import AccessService
from consent_hub.actors import Actor
from consent_hub.config import ConnectorConfig, ProgramMapping
from consent_hub.consent.service import ConsentService
from consent_hub.errors import NotFound
from consent_hub.houses.service import HouseService
from consent_hub.rights.service import RightsService
from fakes import tixly as fake_tixly
from fakes.server import RunningServer, serve_in_thread
from tests.conftest import Hub, auth

TOKEN = "tixly-test-token"
HOUSES = {
    "1001": "schouwburg-leie",
    "1002": "concertzaal-ijzer",
    "1003": "theater-vlasmarkt",
    "1004": "cc-de-brug",
}
FAST = RetryPolicy(max_attempts=8, base=0.01, cap=0.05)


@pytest.fixture
def engine() -> Iterator[RunningServer]:
    world = fake_tixly.build_world(seed=7, size="test")
    with serve_in_thread(fake_tixly.create_app(world, token=TOKEN)) as server:
        yield server


def control(engine: RunningServer, path: str, body: dict[str, Any] | None = None) -> Any:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{engine.url}/_fake/{path}"
    response = (
        httpx.post(url, json=body or {}, headers=headers) if body is not None else httpx.get(url, headers=headers)
    )
    response.raise_for_status()
    return response.json()


def setup_cluster(hub: Hub, cluster: str) -> None:
    with hub.uow(cluster) as uow:
        ConsentService(uow).sync_notices(hub.actor(cluster))
        for org, slug in HOUSES.items():
            HouseService(uow).add(
                hub.actor(cluster), {"slug": slug, "name": slug.replace("-", " ").title(), "tixly_organisation_id": org}
            )


@pytest.fixture
def town(hub: Hub) -> Hub:
    setup_cluster(hub, "alpha")
    setup_cluster(hub, "beta")
    return hub


def connector(engine: RunningServer, **overrides: Any) -> ConnectorConfig:
    values: dict[str, Any] = {
        "kind": "tixly",
        "base_url": f"{engine.url}/v3",
        "token": TOKEN,
        "page_size": 25,
        "programs": {"9001": ProgramMapping(program="duo-leie-ijzer", houses=["schouwburg-leie", "concertzaal-ijzer"])},
    }
    values.update(overrides)
    return ConnectorConfig(**values)


def run(hub: Hub, cfg: ConnectorConfig, cluster: str = "alpha", name: str = "tixly") -> RunOutcome:
    outcome: RunOutcome = tixly.sync(hub.registry, cluster, name, cfg, policy=FAST)
    return outcome


def dump(hub: Hub, cluster: str) -> dict[str, Any]:
    """What a sync wrote, with people named by the engine ids matched to them."""
    q = lambda sql: hub.sql(sql, cluster)  # noqa: E731
    ext_of: dict[str, list[str]] = {}
    for source, ext, pid in q("SELECT source, external_id, person_id FROM engine_customers"):
        if pid is not None:
            ext_of.setdefault(str(pid), []).append(f"{source}:{ext}")

    def who(pid: Any) -> str | None:
        return None if pid is None else "|".join(sorted(ext_of.get(str(pid), ["?"])))

    house = {str(h): s for h, s in q("SELECT id, slug FROM houses")}
    event = {str(e): x for e, x in q("SELECT id, external_id FROM events")}
    ts = lambda v: v if isinstance(v, str) else v.isoformat()  # noqa: E731
    return {
        "customers": sorted(
            (s, x, st, who(p))
            for s, x, p, st in q("SELECT source, external_id, person_id, status FROM engine_customers")
        ),
        "events": sorted(
            (x, house.get(str(h)), t, c)
            for x, h, t, c in q("SELECT external_id, house_id, title, categories FROM events")
        ),
        "sales": sorted(
            (x, who(p), house[str(h)], event[str(e)], n, price, prog or "")
            for x, p, h, e, n, price, prog in q(
                "SELECT external_id, person_id, house_id, event_id, ticket_count, price, program FROM sales"
            )
        ),
        "relations": sorted(
            (who(p), house[str(h)], k, g, str(f)[:19], str(last)[:19])
            for p, h, k, g, f, last in q(
                "SELECT person_id, house_id, kind, program, first_seen, last_seen FROM relations"
            )
            if who(p) is not None and "?" not in (who(p) or "")
        ),
        "states": sorted(
            (who(p), pu, r, st, ts(g)[:19])
            for p, pu, r, st, g in q("SELECT person_id, purpose, target_ref, status, given_at FROM consent_states")
            if "?" not in (who(p) or "?")
        ),
        "engine_events": sorted(
            (who(p), pu, r, st, ch, ts(g)[:19])
            for p, pu, r, st, ch, g in q(
                "SELECT person_id, purpose, target_ref, status, channel, given_at FROM consent_events"
            )
            if "?" not in (who(p) or "?")
        ),
        "memberships": sorted(
            (x, who(p), g) for x, p, g in q("SELECT external_id, person_id, program FROM program_memberships")
        ),
        "people": q("SELECT count(*) FROM people")[0][0],
        "access_keys": q("SELECT count(*) FROM access_keys")[0][0],
    }


def as_state(d: dict[str, Any]) -> dict[str, Any]:
    declined = {"withdrawn": "declined", "refused": "declined"}
    out = {k: v for k, v in d.items() if k != "engine_events"}
    out["states"] = sorted((w, p, r, declined.get(s, s), g) for w, p, r, s, g in d["states"])
    return out


def test_full_sync_matches_the_engine(engine: RunningServer, town: Hub) -> None:
    truth = control(engine, "truth")
    outcome = run(town, connector(engine))
    assert outcome.status == "succeeded", outcome.error
    q = town.sql
    assert q("SELECT count(*) FROM engine_customers")[0][0] == truth["customers"]
    # one person per distinct e-mail, plus one per customer without an address
    assert q("SELECT count(*) FROM people")[0][0] == truth["distinct_emails"] + truth["customers_without_email"]
    assert q("SELECT count(*) FROM sales")[0][0] == truth["ticket_lines"]
    assert q("SELECT count(*) FROM sales WHERE ticket_count < 0")[0][0] == truth["returns"]
    assert q("SELECT count(*) FROM sales WHERE person_id IS NULL")[0][0] == truth["anonymous_lines"]
    # the joint subscription: one subscriber relation per holder at each of the two houses
    duo = q(
        "SELECT h.slug, count(*) FROM relations r JOIN houses h ON h.id = r.house_id "
        "WHERE r.kind = 'subscriber' AND r.program = 'duo-leie-ijzer' GROUP BY h.slug"
    )
    assert dict(duo) == {"schouwburg-leie": truth["duo_holders"], "concertzaal-ijzer": truth["duo_holders"]}
    # every opt-in became an engine-import consent for a house, never for the cluster
    kinds = q("SELECT DISTINCT target_kind FROM consent_events WHERE channel = 'engine-import'")
    assert [k for (k,) in kinds] == ["house"]
    assert q("SELECT count(*) FROM consent_events WHERE channel = 'engine-import' AND status = 'granted'")[0][0] > 0
    # the run is recorded with its counts
    (status, read, written, skipped) = q("SELECT status, rows_read, rows_written, rows_skipped FROM sync_runs")[0]
    assert (status, skipped) == ("succeeded", 0) and read >= truth["customers"] + truth["ticket_lines"]
    assert written > 0


def test_a_second_sync_writes_nothing(engine: RunningServer, town: Hub) -> None:
    assert run(town, connector(engine)).status == "succeeded"
    before = dump(town, "alpha")
    audit_before = town.sql(
        "SELECT count(*) FROM audit_entries WHERE action LIKE 'consent.%' OR action LIKE 'people.%'"
    )
    again = run(town, connector(engine, lookback_seconds=10**9))  # re-read everything
    assert again.status == "succeeded"
    assert again.totals.written == 0
    assert dump(town, "alpha") == before
    assert (
        town.sql("SELECT count(*) FROM audit_entries WHERE action LIKE 'consent.%' OR action LIKE 'people.%'")
        == audit_before
    )


def test_incremental_sync_sees_new_edited_and_returned(engine: RunningServer, town: Hub) -> None:
    assert run(town, connector(engine)).status == "succeeded"
    control(engine, "advance", {"new_customers": 5, "edits": 4, "sales": 30, "returns": 3, "permission_changes": 4})
    time.sleep(0.3)  # the fake stamps changes up to a few ms ahead of the clock; a run bounds itself at its start
    assert run(town, connector(engine)).status == "succeeded"
    # the same data synced in one go into another cluster ends in the same state; only the history
    # differs: the incremental side saw a grant later withdrawn, the one-go side only a refusal
    assert run(town, connector(engine), cluster="beta").status == "succeeded"
    assert as_state(dump(town, "alpha")) == as_state(dump(town, "beta"))
    truth = control(engine, "truth")
    assert town.sql("SELECT count(*) FROM sales")[0][0] == truth["ticket_lines"]
    assert town.sql("SELECT count(*) FROM sales WHERE ticket_count < 0")[0][0] == truth["returns"]


def test_one_person_per_email_visible_only_where_related(engine: RunningServer, town: Hub) -> None:
    assert run(town, connector(engine)).status == "succeeded"
    rows = town.sql(
        "SELECT r.person_id, h.slug FROM relations r JOIN houses h ON h.id = r.house_id WHERE r.kind = 'customer'"
    )
    houses_of: dict[str, set[str]] = {}
    for pid, slug in rows:
        houses_of.setdefault(str(pid), set()).add(slug)
    two = [p for p, hs in houses_of.items() if len(hs) == 2]
    assert two, "the fake cluster has buyers at exactly two houses"
    pid = uuid.UUID(two[0])
    (inside, other), outside = sorted(houses_of[two[0]]), sorted(set(HOUSES.values()) - houses_of[two[0]])[0]
    with town.uow() as uow:
        access = AccessService(uow)
        for house in (inside, other):
            seen = access.get(Actor("test:bo", "alpha", roles.BOX_OFFICE, house), pid, purpose="ticketing-service")
            assert seen.view.id == pid
        with pytest.raises(NotFound):
            access.get(Actor("test:bo", "alpha", roles.BOX_OFFICE, outside), pid, purpose="ticketing-service")
    # engine records sharing one address became one person
    shared = town.sql(
        "SELECT person_id FROM engine_customers WHERE person_id IS NOT NULL GROUP BY person_id HAVING count(*) > 1"
    )
    assert shared, "the fake has engine duplicates with one e-mail in different letter case"


def test_an_opt_in_at_one_house_grants_nothing_at_another(engine: RunningServer, town: Hub) -> None:
    assert run(town, connector(engine)).status == "succeeded"
    granted = town.sql(
        "SELECT person_id, target_ref FROM consent_states WHERE purpose = 'newsletter' AND status = 'granted'"
    )
    by_person: dict[str, set[str]] = {}
    for pid, house in granted:
        by_person.setdefault(str(pid), set()).add(house)
    related = {
        (str(p), s)
        for p, s in town.sql("SELECT r.person_id, h.slug FROM relations r JOIN houses h ON h.id = r.house_id")
    }
    case = next(
        (p, next(iter(hs)), h)
        for p, hs in by_person.items()
        for h in HOUSES.values()
        if h not in hs and (p, h) not in related
    )
    pid, granted_house, other_house = uuid.UUID(case[0]), case[1], case[2]
    with town.uow() as uow:
        access = AccessService(uow)
        seen = access.get(Actor("test:m", "alpha", roles.MARKETER, granted_house), pid, purpose="newsletter")
        assert "email" in seen.view.fields
        with pytest.raises(NotFound):
            access.get(Actor("test:m", "alpha", roles.MARKETER, other_house), pid, purpose="newsletter")


def test_a_customer_edited_during_the_pass_shifts_no_other_out_of_it(town: Hub) -> None:
    """The fake pages by page number over its live data. A customer of the first page edited
    before the second is asked moves to the end of the list, and every later customer one place
    forward: the one first in line for page two would be served by no page of this pass, and,
    its time being older than the bookmark, by no later incremental run either."""
    world = fake_tixly.build_world(seed=7, size="test")
    moved = world.customer_index[3][1]  # on the first page of 25
    asked = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal asked
        if scope["type"] == "http" and scope["path"] == "/v3/customers":
            asked += 1
            if asked == 2:
                world.edit_customer(moved)
        await inner(scope, receive, send)

    inner = fake_tixly.create_app(world, token=TOKEN)
    with serve_in_thread(app) as server:
        outcome = run(town, connector(server))
        truth = control(server, "truth")
    assert outcome.status == "succeeded", outcome.error
    assert asked > 2
    engine_ids = {x for (x,) in town.sql("SELECT external_id FROM engine_customers")}
    assert len(engine_ids) == truth["customers"] == len(world.customers)
    assert engine_ids == {str(cid) for cid in world.customers}


def test_retries_through_429_and_5xx_then_the_same_result(engine: RunningServer, town: Hub) -> None:
    control(engine, "faults", {"rate_limit": 3, "retry_after": 0, "server_errors": 4})
    outcome = run(town, connector(engine))
    assert outcome.status == "succeeded", outcome.error
    assert town.sql("SELECT retries FROM sync_runs")[0][0] >= 7
    control(engine, "faults", {})
    assert run(town, connector(engine), cluster="beta").status == "succeeded"
    assert dump(town, "alpha") == dump(town, "beta")


def test_retries_exhausted_fail_the_run_and_resume_later(engine: RunningServer, town: Hub) -> None:
    control(engine, "faults", {"fail_every": 1})
    outcome = tixly.sync(town.registry, "alpha", "tixly", connector(engine), policy=RetryPolicy(3, 0.0, 0.0))
    assert outcome.status == "failed" and "giving up after 3 attempts" in (outcome.error or "")
    control(engine, "faults", {})
    assert run(town, connector(engine)).status == "succeeded"
    assert run(town, connector(engine), cluster="beta").status == "succeeded"
    assert dump(town, "alpha") == dump(town, "beta")


def test_refused_token_is_fatal_and_writes_nothing(engine: RunningServer, town: Hub) -> None:
    outcome = run(town, connector(engine, token="wrong-token"))
    assert outcome.status == "failed"
    assert "authentication" in (outcome.error or "")
    assert town.sql("SELECT count(*) FROM people")[0][0] == 0
    assert town.sql("SELECT status, errors FROM sync_runs")[0] == ("failed", 1)


def test_malformed_records_are_skipped_and_reported_without_personal_data(engine: RunningServer, town: Hub) -> None:
    truth = control(engine, "truth")
    bad_customers, bad_sales = [fake_tixly_id(engine, "customers", 3), fake_tixly_id(engine, "events/sales", 5)]
    control(engine, "faults", {"malformed_customers": [bad_customers], "malformed_sales": [bad_sales]})
    outcome = run(town, connector(engine))
    assert outcome.status == "succeeded"
    skips = town.sql("SELECT stream, record_ref, reason FROM sync_skips")
    refs = {(s, r) for s, r, _ in skips}
    assert ("customers", str(bad_customers)) in refs
    assert ("sales", str(bad_sales)) in refs
    names = {n for n in _names(engine)}
    for _, _, reason in skips:
        assert "@" not in reason and not any(n in reason for n in names)
    assert town.sql("SELECT count(*) FROM engine_customers")[0][0] == truth["customers"] - 1
    assert town.sql("SELECT count(*) FROM engine_customers WHERE external_id = :x", x=str(bad_customers)) == [(0,)]
    # the skipped customer's sales wait for them; once the record is fixed and read again, nothing is missing
    waiting = town.sql("SELECT count(*) FROM sales WHERE customer_ref = :x AND person_id IS NULL", x=str(bad_customers))
    assert waiting[0][0] > 0
    control(engine, "faults", {})
    assert run(town, connector(engine, lookback_seconds=10**9)).status == "succeeded"
    assert run(town, connector(engine), cluster="beta").status == "succeeded"
    assert as_state(dump(town, "alpha")) == as_state(dump(town, "beta"))


def fake_tixly_id(engine: RunningServer, path: str, index: int) -> int:
    key = "Id" if path == "customers" else "SaleTicketId"
    params = {"pageSize": 50} if path == "customers" else {"pageSize": 50, "SoldFrom": "2000-01-01"}
    body = httpx.get(f"{engine.url}/v3/{path}", params=params, headers={"Authorization": f"Bearer {TOKEN}"}).json()
    record = body["Data"][index]
    return (
        int(record[key]) if path == "customers" or record.get("CustomerId") else fake_tixly_id(engine, path, index + 1)
    )


def _names(engine: RunningServer) -> Iterator[str]:
    body = httpx.get(
        f"{engine.url}/v3/customers", params={"pageSize": 1000}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    for c in body.json()["Data"]:
        for key in ("FirstName", "LastName"):
            if c.get(key) and len(c[key]) > 3:
                yield c[key]


def test_erased_buyer_is_not_recreated_by_the_next_sync(engine: RunningServer, town: Hub) -> None:
    assert run(town, connector(engine)).status == "succeeded"
    granted = "SELECT DISTINCT person_id FROM consent_states WHERE status = 'granted' AND purpose = 'newsletter'"
    pid = uuid.UUID(str(town.sql(granted)[0][0]))
    p = pid.hex if town.backend == "sqlite" else str(pid)
    erased_refs = {x for (x,) in town.sql("SELECT external_id FROM engine_customers WHERE person_id = :p", p=p)}
    with town.uow() as uow:
        assert RightsService(uow).erase(town.actor(), pid)
    # a full re-read through the same connector, and a first read through another one
    assert run(town, connector(engine, lookback_seconds=10**9)).status == "succeeded"
    outcome = run(town, connector(engine), name="tixly-second-account")
    assert outcome.status == "succeeded" and outcome.totals.suppressed >= len(erased_refs)
    # nobody holds the erased address again, and the records carrying it stay out
    assert town.sql(
        "SELECT count(*) FROM people WHERE status = 'active' AND email_bidx IN (SELECT email_bidx FROM suppressions)"
    ) == [(0,)]
    second = dict(town.sql("SELECT external_id, status FROM engine_customers WHERE source = 'tixly-second-account'"))
    assert {second[x] for x in erased_refs} == {"suppressed"}
    # recognised by the suppressed address, not by a mapping kept for the person: the erasure
    # forgot their engine records, and the re-read records map to nobody
    assert town.sql("SELECT count(*) FROM engine_customers WHERE person_id = :p", p=p) == [(0,)]
    # the only people created after the erasure are records without an address (nothing to match them by)
    assert town.sql(
        "SELECT count(*) FROM people WHERE email_bidx IS NOT NULL AND created_at > (SELECT erased_at FROM people "
        "WHERE id = :p)",
        p=p,
    ) == [(0,)]
    # and no consent was recorded for the erased person since
    assert town.sql(
        "SELECT count(*) FROM consent_events WHERE person_id = :p AND recorded_at > (SELECT erased_at FROM people "
        "WHERE id = :p)",
        p=p,
    ) == [(0,)]


def test_sync_runs_over_http(engine: RunningServer, town: Hub) -> None:
    from fastapi.testclient import TestClient

    from consent_hub.app import create_app

    control(engine, "faults", {"malformed_customers": [fake_tixly_id(engine, "customers", 2)]})
    assert run(town, connector(engine)).status == "succeeded"
    admin = auth(town.issue_key(roles.CLUSTER_ADMIN))
    town.add_house("kassa-test")
    box = auth(town.issue_key(roles.BOX_OFFICE, house="kassa-test"))
    with TestClient(create_app(town.settings, town.registry)) as api:
        runs = api.get("/v1/sync/runs", headers=admin)
        assert runs.status_code == 200
        (only,) = runs.json()
        assert only["status"] == "succeeded" and only["rows_skipped"] == 1 and only["duration_seconds"] >= 0
        assert only["rows_read"] > only["rows_skipped"] and only["rows_written"] > 0
        assert only["detail"]["streams"]["customers"]["skipped"] == 1
        one = api.get(f"/v1/sync/runs/{only['id']}", headers=admin).json()
        assert one["skips"][0]["stream"] == "customers" and "@" not in json.dumps(one)
        state = api.get("/v1/sync/state", params={"connector": "tixly"}, headers=admin).json()
        assert {s["stream"] for s in state} == {"events", "customers", "sales", "membership_sales"}
        assert api.get("/v1/sync/runs", headers=box).status_code == 403


def test_sigkill_half_way_then_resume_equals_an_uninterrupted_sync(engine: RunningServer, town: Hub) -> None:
    config = town.dir / "hub.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + f'\n[clusters.alpha.connectors.tixly]\nkind = "tixly"\nbase_url = "{engine.url}/v3"\n'
        f'token = "{TOKEN}"\npage_size = 10\n\n[clusters.alpha.connectors.tixly.programs.9001]\n'
        'program = "duo-leie-ijzer"\nhouses = ["schouwburg-leie", "concertzaal-ijzer"]\n',
        encoding="utf-8",
    )
    control(engine, "faults", {"delay_ms": 60})
    env = {**os.environ, "CONSENT_HUB_CONFIG": str(config)}
    cmd = [sys.executable, "-m", "consent_hub.cli", "sync", "--cluster", "alpha", "--connector", "tixly"]
    log = town.dir / "killed-sync.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, env=env, stdout=sink, stderr=sink)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # kill once some sales pages are committed, well before the end
            done = town.sql("SELECT count(*) FROM sales")[0][0]
            if done >= 100:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, log.read_text(encoding="utf-8", errors="replace")[-2000:]
    half = town.sql("SELECT count(*) FROM sales")[0][0]
    assert 0 < half < control(engine, "truth")["ticket_lines"]
    assert town.sql("SELECT status FROM sync_runs") == [("running",)]
    control(engine, "faults", {})
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    statuses = sorted(s for (s,) in town.sql("SELECT status FROM sync_runs"))
    assert statuses == ["interrupted", "succeeded"]
    assert run(town, connector(engine), cluster="beta").status == "succeeded"
    assert dump(town, "alpha") == dump(town, "beta")
    assert town.sql("SELECT count(*) FROM sales")[0][0] == control(engine, "truth")["ticket_lines"]


def test_cursor_never_moves_past_the_frozen_upper_bound(engine: RunningServer, town: Hub) -> None:
    assert run(town, connector(engine)).status == "succeeded"
    (upper,) = town.sql("SELECT upper_bound FROM sync_runs")[0]
    upper = upper if isinstance(upper, dt.datetime) else dt.datetime.fromisoformat(str(upper))
    upper = upper if upper.tzinfo else upper.replace(tzinfo=dt.UTC)
    for (cursor,) in town.sql("SELECT cursor FROM connector_state"):
        assert dt.datetime.fromisoformat(cursor) <= upper


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))


def test_access_keys_written_in_bulk_match_a_rebuild(engine: RunningServer, town: Hub) -> None:
    """The sync writes relations, consent states and access keys with bulk statements; the keys
    must be exactly what a rebuild from relations and consent states gives (invariant 2's index)."""
    from consent_hub.storage import access_keys

    assert run(town, connector(engine)).status == "succeeded"
    control(engine, "advance", {"new_customers": 3, "sales": 20, "permission_changes": 6, "membership_sales": 2})
    time.sleep(0.3)
    assert run(town, connector(engine)).status == "succeeded"
    query = "SELECT key, person_id, expires_at FROM access_keys ORDER BY key, person_id"
    written = [(k, str(p), str(e)[:19]) for k, p, e in town.sql(query)]
    with town.uow() as uow:
        access_keys.rebuild_all(uow.session)
    rebuilt = [(k, str(p), str(e)[:19]) for k, p, e in town.sql(query)]
    assert written == rebuilt and len(written) > 100


def test_only_tables_that_doubled_get_fresh_statistics(town: Hub) -> None:
    """A sync refreshes the statistics of the tables it grows (or its per-page lookups would be
    planned for empty tables), but only of those that doubled since their last ones."""
    if town.backend != "postgresql":
        pytest.skip("PostgreSQL statistics (SQLite plans without them)")
    from sqlalchemy import text

    from consent_hub.ingest.service import IngestService

    engine = town.registry.runtime("alpha").engine

    def add_events(n: int, start: int) -> None:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO events (id, source, external_id, house_id, title, categories, uit_themes, updated_at) "
                    "SELECT gen_random_uuid(), 'stats', g::text, NULL, 'event', '[]', '[]', now() "
                    "FROM generate_series(CAST(:a AS integer), CAST(:b AS integer)) g"
                ),
                {"a": start, "b": start + n - 1},
            )
            conn.execute(text("SELECT pg_stat_force_next_flush()"))  # counted at commit, not a second later

    def refresh() -> list[str]:
        with town.uow() as uow:
            return IngestService(uow, town.actor(), "stats").refresh_statistics()

    def analysed() -> int:
        return int(town.sql("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'events'")[0][0])

    add_events(600, 0)
    assert refresh() == ["events"] and analysed() == 1
    assert refresh() == []  # nothing changed since
    add_events(200, 600)  # fewer than the least number of changes, and a third of the table
    assert refresh() == [] and analysed() == 1
    add_events(400, 800)  # 600 changes since, the table had 600 rows: doubled
    assert refresh() == ["events"] and analysed() == 2
