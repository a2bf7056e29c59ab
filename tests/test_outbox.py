"""The outbox against a real HTTP fake CRM (Mailchimp-shaped), on SQLite and PostgreSQL.

Withdrawals arrive as unsubscribes within one worker cycle, erasures as permanent deletes; while
the CRM is down deliveries wait and retry, and once it is back each change arrives once as the
CRM sees it (its own request log is the witness).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from consent_hub import roles
from consent_hub.consent.service import ConsentService
from consent_hub.outbox.delivery import OutboxWorker
from consent_hub.outbox.service import OutboxService
from consent_hub.rights.service import RightsService
from fakes import mailchimp as fake_crm
from fakes.server import RunningServer, serve_in_thread
from tests.conftest import Hub, auth
from tests.factories import add_destination, add_newsletter_audience, create_person, notice_sha256, record_consent

HOUSE = "schouwburg-noord"
OTHER = "concertzaal-zuid"
LIST = "list-noord"
KEY = fake_crm.DEFAULT_API_KEY


@pytest.fixture
def crm() -> Iterator[tuple[fake_crm.MailchimpState, RunningServer]]:
    state = fake_crm.MailchimpState(lists=[LIST])
    server = serve_in_thread(fake_crm.create_app(state))
    try:
        yield state, server
    finally:
        server.stop()


@pytest.fixture
def town(hub: Hub, crm: tuple[fake_crm.MailchimpState, RunningServer]) -> Hub:
    _, server = crm
    with hub.uow() as uow:
        ConsentService(uow).sync_notices(hub.actor())
    hub.add_house(HOUSE)
    hub.add_house(OTHER)
    add_newsletter_audience(
        hub,
        "crm-noord",
        house=HOUSE,
        base_url=f"{server.url}/3.0",
        list_id=LIST,
        api_key=KEY,
        max_attempts=4,
        no_backoff=True,
        timeout_seconds=2,
    )
    return hub


def person(hub: Hub, n: int) -> uuid.UUID:
    return create_person(hub, email=f"lid.{n}@example.org", given_name=f"Lid{n}", family_name="Noord", language="nl")


def consent(hub: Hub, pid: uuid.UUID, status: str, house: str = HOUSE, **extra: Any) -> None:
    record_consent(hub, pid, target=house, status=status, **extra)


def cycle(hub: Hub) -> Any:
    worker = OutboxWorker(hub.registry, "alpha")
    try:
        return worker.run_once()
    finally:
        worker.close()


def crm_get(server: RunningServer, path: str) -> Any:
    return httpx.get(f"{server.url}{path}", auth=("test", KEY)).json()


def member_status(server: RunningServer, email: str) -> str | None:
    response = httpx.get(f"{server.url}/3.0/lists/{LIST}/members/{fake_crm.subscriber_hash(email)}", auth=("test", KEY))
    return response.json()["status"] if response.status_code == 200 else None


def test_grant_withdraw_and_erasure_reach_the_crm(town: Hub, crm: Any) -> None:
    _, server = crm
    pid = person(town, 1)
    consent(town, pid, "granted")
    assert town.sql("SELECT kind, status FROM outbox") == [("upsert", "pending")]
    assert cycle(town).delivered == 1
    assert member_status(server, "lid.1@example.org") == "subscribed"
    member = crm_get(server, f"/3.0/lists/{LIST}/members/{fake_crm.subscriber_hash('lid.1@example.org')}")
    assert member["merge_fields"]["FNAME"] == "Lid1"
    # a withdrawal arrives within one worker cycle
    consent(town, pid, "withdrawn")
    assert cycle(town).delivered == 1
    assert member_status(server, "lid.1@example.org") == "unsubscribed"
    # an erasure arrives as a permanent delete
    with town.uow() as uow:
        RightsService(uow).erase(town.actor(), pid)
    assert cycle(town).delivered == 1
    assert member_status(server, "lid.1@example.org") is None
    log = crm_get(server, "/_fake/log")
    assert [entry["path"].rsplit("/", 1)[-1] for entry in log][-1] == "delete-permanent"
    kinds = town.sql("SELECT kind, status, sent_as FROM outbox ORDER BY created_at")
    assert kinds == [
        ("upsert", "delivered", "upsert"),
        ("unsubscribe", "delivered", "unsubscribe"),
        ("erase", "delivered", "erase"),
    ]
    # the erasure handle is gone once delivered; the outbox holds no address
    assert town.sql("SELECT payload FROM outbox WHERE kind = 'erase'") == [("{}",)]


def test_an_expired_grant_is_unsubscribed_once(town: Hub, crm: Any) -> None:
    _, server = crm
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    expiring, lasting = person(town, 1), person(town, 2)
    consent(town, expiring, "granted", expires_at=soon.isoformat())
    consent(town, lasting, "granted")
    assert cycle(town).delivered == 2
    with town.uow() as uow:
        assert OutboxService(uow).enqueue_expiries(now=soon - dt.timedelta(days=1)) == 0  # not yet
    later = soon + dt.timedelta(days=1)
    with town.uow() as uow:
        assert OutboxService(uow).enqueue_expiries(now=later) == 1
    with town.uow() as uow:
        assert OutboxService(uow).enqueue_expiries(now=later) == 0  # once per expired grant
    assert cycle(town).delivered == 1
    assert member_status(server, "lid.1@example.org") == "unsubscribed"
    assert member_status(server, "lid.2@example.org") == "subscribed"
    assert town.sql("SELECT kind, cause FROM outbox WHERE kind = 'unsubscribe'")[0][1].startswith("expiry:")


def test_consent_for_another_house_or_a_refusal_sends_nothing(town: Hub, crm: Any) -> None:
    _, server = crm
    a, b = person(town, 2), person(town, 3)
    consent(town, a, "granted", house=OTHER)  # not this destination's audience
    consent(town, b, "refused")  # never agreed: the CRM must not learn of them
    assert town.sql("SELECT count(*) FROM outbox") == [(0,)]
    cycle(town)
    assert crm_get(server, f"/_fake/members?list_id={LIST}") in ([], {"members": []}, {LIST: []})


def test_withdrawal_before_send_is_sent_as_unsubscribe_or_not_at_all(town: Hub, crm: Any) -> None:
    _, server = crm
    never, known = person(town, 4), person(town, 5)
    consent(town, known, "granted")
    cycle(town)
    # an export (or any upsert) waiting while the buyer withdraws
    with town.uow() as uow:
        OutboxService(uow).export_members("crm-noord", [known, never], "export-1")
    consent(town, known, "withdrawn")
    report = cycle(town)
    assert member_status(server, "lid.5@example.org") == "unsubscribed"
    assert member_status(server, "lid.4@example.org") is None  # never consented: never sent
    rows = dict(
        town.sql("SELECT cause || ':' || CAST(person_id AS TEXT), sent_as FROM outbox WHERE cause = 'export:export-1'")
    )
    assert sorted(rows.values()) == ["nothing", "unsubscribe"]
    assert report.superseded >= 1


def test_crm_down_then_back_every_change_arrives_once(town: Hub, crm: Any) -> None:
    state, server = crm
    people = [person(town, 10 + i) for i in range(5)]
    for pid in people[:3]:
        consent(town, pid, "granted")
    assert cycle(town).delivered == 3
    httpx.post(f"{server.url}/_fake/faults", json={"down": True}, auth=("t", KEY))
    consent(town, people[0], "withdrawn")  # while the CRM is down
    for pid in people[3:]:
        consent(town, pid, "granted")
    report = cycle(town)
    assert report.delivered == 0 and report.retried == 3
    assert [s for (s,) in town.sql("SELECT status FROM outbox WHERE delivered_at IS NULL")] == ["pending"] * 3
    # the server goes away entirely, then comes back on the same port with the same state
    port = server.port
    server.stop()
    assert cycle(town).delivered == 0
    back = serve_in_thread(fake_crm.create_app(state), port=port)
    try:
        httpx.post(f"{back.url}/_fake/faults", json={}, auth=("t", KEY))
        for _ in range(10):
            if not cycle(town).delivered:
                break
        statuses = {s for (s,) in town.sql("SELECT status FROM outbox")}
        assert statuses == {"delivered"}
        log = crm_get(back, "/_fake/log")
        changes: dict[str, list[str]] = {}
        for entry in log:
            if entry["status_before"] != entry["status_after"]:
                changes.setdefault(entry["subscriber_hash"], []).append(entry["status_after"])
        assert changes[fake_crm.subscriber_hash("lid.10@example.org")] == ["subscribed", "unsubscribed"]
        for i in range(1, 5):
            assert changes[fake_crm.subscriber_hash(f"lid.{10 + i}@example.org")] == ["subscribed"]
    finally:
        back.stop()


def test_dead_letter_after_bounded_attempts(town: Hub, crm: Any) -> None:
    _, server = crm
    pid = person(town, 20)
    httpx.post(f"{server.url}/_fake/faults", json={"server_errors": 100}, auth=("t", KEY))
    consent(town, pid, "granted")
    for _ in range(6):
        cycle(town)
    (status, attempts, error) = town.sql("SELECT status, attempts, last_error FROM outbox")[0]
    assert (status, attempts) == ("dead", 4) and error.startswith("HTTP 5")
    assert "@" not in error


def test_delivery_status_over_http(town: Hub, crm: Any, api: Any) -> None:
    pid = person(town, 30)
    consent(town, pid, "granted")
    cycle(town)
    dpo = auth(town.issue_key(roles.CLUSTER_DPO))
    rows = api.get(f"/v1/people/{pid}/deliveries", headers=dpo).json()
    assert [(r["destination"], r["kind"], r["status"]) for r in rows] == [("crm-noord", "upsert", "delivered")]
    assert rows[0]["receipt"]["status"] == "subscribed"
    assert "member_id" not in rows[0]["receipt"]  # the CRM's member id is the MD5 of the address
    box = auth(town.issue_key(roles.BOX_OFFICE, house=HOUSE))
    assert api.get(f"/v1/people/{pid}/deliveries", headers=box).status_code == 403
    assert api.get("/v1/outbox", params={"status": "dead"}, headers=dpo).json() == []


def test_two_workers_never_send_one_delivery_twice(town: Hub, crm: Any) -> None:
    """Several workers (threads here, processes or machines in production) share one cluster:
    on PostgreSQL claims skip rows another worker holds; SQLite serialises writers."""
    import threading

    _, server = crm
    people = [person(town, 40 + i) for i in range(12)]
    for pid in people:
        consent(town, pid, "granted")
    reports: list[Any] = []

    def work() -> None:
        reports.append(cycle(town))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    while cycle(town).delivered:
        pass
    assert sum(r.delivered for r in reports) <= 12
    assert {s for (s,) in town.sql("SELECT status FROM outbox")} == {"delivered"}
    puts = [e for e in crm_get(server, "/_fake/log") if e["method"] == "PUT"]
    assert len(puts) == 12 and len({e["subscriber_hash"] for e in puts}) == 12


def test_procrastinate_worker_delivers_on_postgresql(town: Hub, crm: Any) -> None:
    if town.backend != "postgresql":
        pytest.skip("procrastinate runs the outbox on PostgreSQL; SQLite runs it in-process")
    from consent_hub.outbox.queue import QUEUE, ensure_schema, make_app

    _, server = crm
    people = [person(town, 60 + i) for i in range(6)]
    for pid in people:
        consent(town, pid, "granted")
    url = town.database_url("alpha")
    app = make_app(url, town.registry)
    assert ensure_schema(app, url) is True
    assert ensure_schema(app, url) is False
    with app.open():
        app.deliver_outbox.defer(cluster="alpha")
        app.run_worker(queues=[QUEUE], concurrency=2, wait=False, install_signal_handlers=False)
    assert {s for (s,) in town.sql("SELECT status FROM outbox")} == {"delivered"}
    jobs = "SELECT status FROM procrastinate_jobs WHERE task_name = 'consent_hub.deliver_outbox'"
    assert town.sql(jobs) == [("succeeded",)]
    assert len([e for e in crm_get(server, "/_fake/log") if e["method"] == "PUT"]) == 6


def test_signed_webhook_destination(hub: Hub) -> None:
    """A cluster-wide purpose delivered to a generic signed webhook, verified by the receiver."""
    from fakes import webhook_receiver

    with hub.uow() as uow:
        ConsentService(uow).sync_notices(hub.actor())
    state = webhook_receiver.WebhookReceiverState()
    with serve_in_thread(webhook_receiver.create_app("hook-secret", state=state)) as receiver:
        add_destination(
            hub,
            "events-hook",
            kind="webhook",
            base_url=f"{receiver.url}/hooks/hub",
            purpose="cluster-marketing",
            secret="hook-secret",
            no_backoff=True,
        )
        pid = person(hub, 70)
        notice = notice_sha256("cluster-marketing")
        for status in ("granted", "withdrawn"):
            with hub.uow() as uow:
                ConsentService(uow).record(
                    hub.actor(),
                    pid,
                    {
                        "purpose": "cluster-marketing",
                        "status": status,
                        "language": "nl",
                        "channel": "web",
                        "notice_sha256": notice,
                    },
                )
            assert cycle(hub).delivered == 1
        got = state.received("hub")
        assert [r["json"]["kind"] for r in got] == ["upsert", "unsubscribe"]
        assert got[0]["json"]["fields"]["email"] == "lid.70@example.org" and got[1]["json"]["fields"] == {}
        assert got[0]["json"]["person"] == str(pid)
        # a wrong secret is refused by the receiver and the delivery dies (not retryable)
        hub.settings.clusters["alpha"].destinations["events-hook"].secret = "wrong"
        with hub.uow() as uow:
            RightsService(uow).erase(hub.actor(), pid)
        cycle(hub)
        assert hub.sql("SELECT kind, status FROM outbox WHERE kind = 'erase'") == [("erase", "dead")]


def test_reconcile_repairs_drift_in_the_crm(town: Hub, crm: Any) -> None:
    from consent_hub.outbox.reconcile import reconcile

    _, server = crm
    a, b, c = person(town, 80), person(town, 81), person(town, 82)
    for pid in (a, b, c):
        consent(town, pid, "granted")
    cycle(town)
    consent(town, b, "withdrawn")
    cycle(town)

    def put(email: str, status: str) -> None:
        body = {"email_address": email, "status": status, "status_if_new": status}
        httpx.put(
            f"{server.url}/3.0/lists/{LIST}/members/{fake_crm.subscriber_hash(email)}", json=body, auth=("t", KEY)
        ).raise_for_status()

    put("lid.80@example.org", "unsubscribed")  # someone unsubscribed them in the tool
    put("lid.81@example.org", "subscribed")  # re-subscribed in the tool after withdrawing in the hub
    put("stranger@example.org", "subscribed")  # never sent by the hub
    dry = reconcile(town.registry, "alpha", "crm-noord", repair=False)
    assert (dry.resubscribe, dry.unsubscribe, dry.unknown_to_hub, dry.in_step) == (1, 1, 1, 1)
    assert not dry.repaired
    report = reconcile(town.registry, "alpha", "crm-noord")
    assert len(report.repaired) == 2
    while cycle(town).delivered:
        pass
    assert member_status(server, "lid.80@example.org") == "subscribed"
    assert member_status(server, "lid.81@example.org") == "unsubscribed"
    assert member_status(server, "stranger@example.org") == "subscribed"  # not the hub's to touch
    again = reconcile(town.registry, "alpha", "crm-noord")
    assert (again.resubscribe, again.unsubscribe, again.in_step) == (0, 0, 3)
    assert town.sql("SELECT count(*) FROM audit_entries WHERE action = 'outbox.reconcile'") == [(3,)]


def test_large_pushes_go_as_batch_operations(town: Hub, crm: Any) -> None:
    _, server = crm
    people = [person(town, 100 + i) for i in range(30)]
    for pid in people:
        consent(town, pid, "granted")
    report = cycle(town)
    assert report.delivered == 30
    puts = [e for e in crm_get(server, "/_fake/log") if e["method"] == "PUT"]
    assert len(puts) == 30 and all(e.get("batch_id") for e in puts)
    assert all(member_status(server, f"lid.{100 + i}@example.org") == "subscribed" for i in range(30))
    receipts = town.sql("SELECT receipt FROM outbox")
    assert all('"batch"' in r for (r,) in receipts)
