"""Restriction of processing (GDPR Art. 18), on SQLite and PostgreSQL.

A restricted buyer is kept but reached by no house (lookups, counts from the access keys, segments,
exports, the UiT export) and archived at the destinations; a sync or a consent recorded meanwhile
does not bring them back; the lift restores what they had and re-delivers their current state.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from consent_hub import roles
from consent_hub.access.service import AccessService
from consent_hub.actors import Actor
from consent_hub.audiences.repository import AudienceRepository
from consent_hub.audiences.schemas import SegmentDefinition
from consent_hub.audiences.service import AudienceService
from consent_hub.consent.service import ConsentService
from consent_hub.errors import ErasedPerson, NotFound
from consent_hub.exchange.service import ParticipationService
from consent_hub.ingest.records import CustomerRecord, EngineOptIn, EventRecord, SaleLine
from consent_hub.ingest.service import IngestService
from consent_hub.outbox.delivery import BATCH_FROM, OutboxWorker
from consent_hub.outbox.reconcile import reconcile
from consent_hub.outbox.service import OutboxService
from consent_hub.people.service import PeopleService
from consent_hub.rights.service import RightsService
from consent_hub.storage import access_keys
from fakes import mailchimp as fake_crm
from fakes.server import RunningServer, serve_in_thread
from tests.conftest import Hub, auth
from tests.counting import exact_people_count
from tests.factories import add_destination, add_newsletter_audience, create_person, person_of_record, record_consent

HOUSE = "schouwburg-noord"
OTHER = "concertzaal-zuid"
LIST = "list-noord"
KEY = fake_crm.DEFAULT_API_KEY
T0 = dt.datetime(2026, 3, 1, 19, 0, tzinfo=dt.UTC)
BOX_A = Actor("test:box-a", "alpha", roles.BOX_OFFICE, HOUSE)
MARKETER_A = Actor("test:marketer-a", "alpha", roles.MARKETER, HOUSE)
MARKETER_B = Actor("test:marketer-b", "alpha", roles.MARKETER, OTHER)
SEGMENT = {"name": "all buyers", "purpose": "newsletter", "filters": {}}


# -- fixtures and helpers ------------------------------------------------------------------------
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
    """Two houses; four buyers of house A who opted in to its newsletter (imported the way a sync
    imports them); A's newsletter audience in the fake CRM."""
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
    customers = [
        CustomerRecord(
            f"c{n}",
            {"email": email(n), "given_name": f"Lid{n}", "family_name": "Fictief", "language": "nl"},
            T0,
            house=HOUSE,
            opt_ins=[EngineOptIn("news", "newsletter", HOUSE, True, T0)],
        )
        for n in range(1, 5)
    ]
    lines = [
        SaleLine(f"s{n}", f"c{n}", HOUSE, "e1", f"o{n}", "Volw.", None, 2500, 1, "online", T0) for n in range(1, 5)
    ]
    with hub.uow() as uow:
        ingest = IngestService(uow, hub.actor(), "tixly")
        ingest.upsert_events([EventRecord("e1", HOUSE, "Toneel", T0 + dt.timedelta(days=30), None, ["Theater"], T0)])
        ingest.upsert_customers(customers)
        ingest.record_sales(lines)
    return hub


def email(n: int) -> str:
    return f"lid.{n}@example.org"


def new_person(hub: Hub, n: int) -> uuid.UUID:
    return create_person(hub, email=email(n), given_name=f"Lid{n}", family_name="Fictief", language="nl")


def consent(hub: Hub, pid: uuid.UUID, purpose: str, target: str | None, status: str = "granted") -> None:
    record_consent(hub, pid, purpose=purpose, target=target, status=status)


def restrict(hub: Hub, pid: uuid.UUID) -> bool:
    with hub.uow() as uow:
        return RightsService(uow).restrict(hub.actor(), pid, reference="DSR-2026-0042")


def lift(hub: Hub, pid: uuid.UUID) -> bool:
    with hub.uow() as uow:
        return RightsService(uow).lift_restriction(hub.actor(), pid, reference="DSR-2026-0042")


def keys_of(hub: Hub, pid: uuid.UUID) -> list[tuple[str, Any]]:
    ref = pid.hex if hub.backend == "sqlite" else str(pid)
    return sorted((k, e) for k, e in hub.sql("SELECT key, expires_at FROM access_keys WHERE person_id = :p", p=ref))


def visibility(hub: Hub, pid: uuid.UUID, address: str) -> dict[str, Any]:
    """What each house sees of the person, and the counts and segment they are part of."""
    out: dict[str, Any] = {}
    with hub.uow() as uow:
        access = AccessService(uow)
        for actor, purpose in (
            (BOX_A, "ticketing-service"),
            (MARKETER_A, "newsletter"),
            (MARKETER_B, "newsletter"),
            (MARKETER_B, "cluster-marketing"),
        ):
            try:
                access.get(actor, pid, purpose=purpose)
                got = True
            except NotFound:
                got = False
            found = access.lookup_by_email(actor, address, purpose=purpose) is not None
            out[f"{actor.house}/{actor.role}/{purpose}"] = (got, found, exact_people_count(uow, actor, purpose))
        spec = SegmentDefinition.model_validate(SEGMENT)
        compiled, scope = access.grant(MARKETER_A, "newsletter")
        audiences = AudienceService(uow)
        members = AudienceRepository(uow.session).members(
            spec.filters, compiled.bases, scope, audiences._person_filters(spec)
        )
        out["segment"] = (len(members), pid in members)
        out["segment_count"] = AudienceRepository(uow.session).count(
            spec.filters, compiled.bases, scope, audiences._person_filters(spec)
        )
    out["keys"] = keys_of(hub, pid)
    return out


def export_members(hub: Hub) -> set[uuid.UUID]:
    with hub.uow() as uow:
        result = AudienceService(uow).export(MARKETER_A, SEGMENT, fmt="csv")
    ref = result.export.id.hex if hub.backend == "sqlite" else str(result.export.id)
    rows = hub.sql("SELECT person_id FROM audience_export_members WHERE export_id = :e", e=ref)
    return {uuid.UUID(str(p)) for (p,) in rows}


def cycle(hub: Hub) -> Any:
    worker = OutboxWorker(hub.registry, "alpha")
    try:
        return worker.run_once()
    finally:
        worker.close()


def drain(hub: Hub) -> None:
    for _ in range(10):
        report = cycle(hub)
        if not (report.delivered or report.superseded or report.retried):
            return


def member_status(server: RunningServer, address: str) -> str | None:
    path = f"{server.url}/3.0/lists/{LIST}/members/{fake_crm.subscriber_hash(address)}"
    response = httpx.get(path, auth=("test", KEY))
    return response.json()["status"] if response.status_code == 200 else None


def crm_log(server: RunningServer, address: str) -> list[tuple[str, str | None]]:
    """(method, status after) of every change the CRM saw for this address."""
    log = httpx.get(f"{server.url}/_fake/log", auth=("test", KEY)).json()
    h = fake_crm.subscriber_hash(address)
    return [(e["method"], e["status_after"]) for e in log if e.get("subscriber_hash") == h]


def deliveries(hub: Hub, pid: uuid.UUID) -> list[tuple[str, str, str | None]]:
    ref = pid.hex if hub.backend == "sqlite" else str(pid)
    return [
        (k, s, a)
        for k, s, a in hub.sql(
            "SELECT kind, status, sent_as FROM outbox WHERE person_id = :p ORDER BY created_at", p=ref
        )
    ]


# -- visibility ----------------------------------------------------------------------------------
def test_restriction_hides_the_person_from_every_house_and_the_lift_restores_it(town: Hub) -> None:
    pid = person_of_record(town, "c1")
    consent(town, pid, "cluster-marketing", None)  # also visible to house B, through the cluster
    before = visibility(town, pid, email(1))
    assert before[f"{HOUSE}/box-office/ticketing-service"] == (True, True, 4)
    assert before[f"{HOUSE}/marketer/newsletter"] == (True, True, 4)
    assert before[f"{OTHER}/marketer/newsletter"] == (False, False, 0)
    assert before[f"{OTHER}/marketer/cluster-marketing"] == (True, True, 1)
    assert before["segment"] == (4, True) and before["segment_count"] == 4
    assert len(before["keys"]) == 3  # customer of A, newsletter of A, cluster marketing
    assert pid in export_members(town)

    assert restrict(town, pid) is True
    during = visibility(town, pid, email(1))
    assert during[f"{HOUSE}/box-office/ticketing-service"] == (False, False, 3)
    assert during[f"{HOUSE}/marketer/newsletter"] == (False, False, 3)
    assert during[f"{OTHER}/marketer/newsletter"] == (False, False, 0)
    assert during[f"{OTHER}/marketer/cluster-marketing"] == (False, False, 0)
    assert during["segment"] == (3, False) and during["segment_count"] == 3
    assert during["keys"] == []
    assert pid not in export_members(town)
    # not even the cluster's own service account decrypts them
    with town.uow() as uow, pytest.raises(NotFound):
        PeopleService(uow).get(town.actor(), pid, purpose="ticketing-service")
    # what is stored is kept: relations, consent states, sales
    ref = pid.hex if town.backend == "sqlite" else str(pid)
    assert town.sql("SELECT count(*) FROM relations WHERE person_id = :p", p=ref) == [(1,)]
    assert town.sql("SELECT count(*) FROM consent_states WHERE person_id = :p", p=ref) == [(2,)]

    assert lift(town, pid) is True
    assert visibility(town, pid, email(1)) == before
    assert pid in export_members(town)


def test_the_uit_export_leaves_a_restricted_person_out(town: Hub) -> None:
    pid, other = person_of_record(town, "c1"), person_of_record(town, "c2")
    for p in (pid, other):
        consent(town, p, "audience-research", "uit-platform")

    def participants() -> int:
        with town.uow() as uow:
            return len(ParticipationService(uow).export(town.actor()).participants)

    assert participants() == 2
    restrict(town, pid)
    assert participants() == 1
    restrict(town, other)  # nobody left to export: an empty export, not an error
    assert participants() == 0
    lift(town, pid)
    lift(town, other)
    assert participants() == 2


def test_a_sync_or_a_consent_during_the_restriction_does_not_bring_the_person_back(town: Hub) -> None:
    pid = person_of_record(town, "c1")
    restrict(town, pid)
    # house B's engine account imports the same buyer, with an opt-in to B's newsletter: the
    # import links them by e-mail address, records the relation and the consent ...
    with town.uow() as uow:
        ingest = IngestService(uow, town.actor(), "ticketmatic")
        ingest.upsert_customers(
            [
                CustomerRecord(
                    "tm-1",
                    {"email": email(1), "given_name": "Lid1", "family_name": "Fictief"},
                    T0,
                    house=OTHER,
                    opt_ins=[EngineOptIn("news", "newsletter", OTHER, True, T0)],
                )
            ]
        )
    # ... house A's engine reports a new purchase of the already linked customer: kept with the
    # person (a restriction stops processing, not recording), so the lift finds their history whole
    with town.uow() as uow:
        ingest = IngestService(uow, town.actor(), "tixly")
        result = ingest.record_sales(
            [SaleLine("s1-b", "c1", HOUSE, "e1", "o1-b", "Volw.", None, 2500, 1, "online", T0 + dt.timedelta(days=1))]
        )
    assert result.suppressed == 0
    # ... and the buyer consents to cluster marketing through the preference centre
    consent(town, pid, "cluster-marketing", None)
    ref = pid.hex if town.backend == "sqlite" else str(pid)
    assert town.sql("SELECT count(*) FROM sales WHERE person_id = :p", p=ref) == [(2,)]
    assert town.sql("SELECT count(*) FROM relations WHERE person_id = :p", p=ref) == [(2,)]
    granted = "SELECT count(*) FROM consent_states WHERE person_id = :p AND status = 'granted'"
    assert town.sql(granted, p=ref) == [(3,)]
    # yet no house reaches them, and no key was written for them
    during = visibility(town, pid, email(1))
    assert during["keys"] == []
    assert all(v == (False, False, v[2]) for k, v in during.items() if "/" in k)
    assert during[f"{OTHER}/marketer/newsletter"][2] == 0
    assert during[f"{OTHER}/marketer/cluster-marketing"][2] == 0
    # the writers skip them directly too, and a full rebuild agrees with what they wrote
    house_b = uuid.UUID(str(town.sql("SELECT id FROM houses WHERE slug = :s", s=OTHER)[0][0]))
    with town.uow() as uow:
        access_keys.touch_relations(uow.session, {(pid, house_b, "subscriber", "cubo"): (T0, T0)})
    assert keys_of(town, pid) == []
    snapshot = "SELECT key, person_id, expires_at FROM access_keys ORDER BY key, person_id"
    kept = town.sql(snapshot)
    with town.uow() as uow:
        access_keys.rebuild_all(uow.session)
    assert town.sql(snapshot) == kept
    # nothing went to the CRM while restricted: the grant waits for the lift
    assert [k for k, _, _ in deliveries(town, pid)] == ["upsert", "restriction"]
    # the lift makes what was recorded meanwhile count
    lift(town, pid)
    after = visibility(town, pid, email(1))
    assert after[f"{OTHER}/marketer/newsletter"] == (True, True, 1)
    assert after[f"{OTHER}/marketer/cluster-marketing"] == (True, True, 1)
    assert len(after["keys"]) == 6  # customer of A and B, subscriber of B, newsletter A and B, cluster


# -- delivery ------------------------------------------------------------------------------------
def test_restriction_archives_in_the_crm_and_the_lift_resubscribes(town: Hub, crm: Any) -> None:
    _, server = crm
    pid = person_of_record(town, "c1")
    drain(town)
    assert member_status(server, email(1)) == "subscribed"
    restrict(town, pid)
    report = cycle(town)  # within one worker cycle
    assert report.delivered == 1
    assert member_status(server, email(1)) == "archived"
    assert crm_log(server, email(1))[-1] == ("DELETE", "archived")
    lift(town, pid)
    drain(town)
    assert member_status(server, email(1)) == "subscribed"
    assert deliveries(town, pid) == [
        ("upsert", "delivered", "upsert"),
        ("restriction", "delivered", "restriction"),
        ("restriction-lifted", "delivered", "restriction-lifted"),
        ("upsert", "delivered", "upsert"),
    ]
    assert [m for m, _ in crm_log(server, email(1))] == ["PUT", "DELETE", "PUT"]  # the lift itself needs no call
    # the outbox keeps no address, no hash of one
    assert all(p == "{}" for (p,) in town.sql("SELECT payload FROM outbox"))


def test_a_withdrawal_during_the_restriction_is_kept_and_the_lift_sends_nothing(town: Hub, crm: Any) -> None:
    _, server = crm
    pid = person_of_record(town, "c1")
    drain(town)
    restrict(town, pid)
    consent(town, pid, "newsletter", HOUSE, status="withdrawn")
    drain(town)
    lift(town, pid)
    drain(town)
    assert member_status(server, email(1)) == "archived"  # not re-subscribed, not re-added
    assert [k for k, _, _ in deliveries(town, pid)] == ["upsert", "restriction", "restriction-lifted"]
    assert visibility(town, pid, email(1))[f"{HOUSE}/marketer/newsletter"] == (False, False, 3)


def test_an_upsert_waiting_when_the_person_is_restricted_is_never_sent_as_subscribe(town: Hub, crm: Any) -> None:
    _, server = crm
    waiting, exported = person_of_record(town, "c1"), person_of_record(town, "c2")
    # c1's upsert (from the import) is still waiting when the restriction comes
    restrict(town, waiting)
    assert deliveries(town, waiting) == [("upsert", "superseded", "nothing"), ("restriction", "pending", None)]
    drain(town)
    assert member_status(server, email(2)) == "subscribed"
    restrict(town, exported)
    drain(town)
    # an export enqueued after the restrictions (a race with the segment query) waits in the
    # outbox with upserts for both
    with town.uow() as uow:
        OutboxService(uow).export_members("crm-noord", [exported, waiting], "export-late")
    report = cycle(town)
    assert report.delivered == 2
    assert member_status(server, email(1)) is None  # never subscribed, and not now
    assert member_status(server, email(2)) == "archived"
    sent = dict(town.sql("SELECT CAST(person_id AS TEXT), sent_as FROM outbox WHERE cause = 'export:export-late'"))
    assert sorted(sent.values()) == ["restriction", "restriction"]
    assert all(m != "PUT" for m, _ in crm_log(server, email(1)))
    assert [m for m, _ in crm_log(server, email(2))] == ["PUT", "DELETE", "DELETE"]


def test_restrictions_go_in_batches_too(town: Hub, crm: Any) -> None:
    _, server = crm
    people = [new_person(town, 100 + i) for i in range(BATCH_FROM + 2)]
    for pid in people:
        consent(town, pid, "newsletter", HOUSE)
    drain(town)
    # two of them were deleted by hand in the tool: archiving them answers 404, which is the goal
    for i in (0, 1):
        path = f"{server.url}/3.0/lists/{LIST}/members/{fake_crm.subscriber_hash(email(100 + i))}"
        httpx.post(f"{path}/actions/delete-permanent", auth=("t", KEY)).raise_for_status()
    for pid in people:
        restrict(town, pid)
    report = cycle(town)
    assert report.delivered == len(people) and report.dead == report.retried == 0
    assert all(member_status(server, email(100 + i)) == "archived" for i in range(2, len(people)))
    receipts = [json.loads(r) for (r,) in town.sql("SELECT receipt FROM outbox WHERE kind = 'restriction'")]
    assert len(receipts) == len(people) and all(r.get("batch") for r in receipts)
    assert sorted(r["http"] for r in receipts) == [204] * (len(people) - 2) + [404, 404]


def test_webhook_receives_restriction_and_lift_as_events_of_their_own(hub: Hub) -> None:
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
        pid = new_person(hub, 70)
        consent(hub, pid, "cluster-marketing", None)
        drain(hub)
        restrict(hub, pid)
        drain(hub)
        lift(hub, pid)
        drain(hub)
        got = [r["json"] for r in state.received("hub")]
    assert [g["kind"] for g in got] == ["upsert", "restriction", "restriction-lifted", "upsert"]
    assert {g["person"] for g in got} == {str(pid)}
    assert got[1]["fields"] == {} and got[2]["fields"] == {}
    assert got[3]["fields"]["email"] == email(70)
    # the receiver knows the person by hub id: no address was decrypted to restrict them there
    reads = hub.sql("SELECT fields, detail FROM audit_entries WHERE action = 'people.read'")
    assert reads and not [d for _, d in reads if "restriction" in d]


def test_reconcile_counts_a_restricted_person_as_not_subscribed(town: Hub, crm: Any) -> None:
    _, server = crm
    pid = person_of_record(town, "c1")
    drain(town)
    restrict(town, pid)
    drain(town)
    in_step = reconcile(town.registry, "alpha", "crm-noord", repair=False)
    assert (in_step.checked, in_step.in_step, in_step.unsubscribe, in_step.restricted) == (4, 4, 0, 1)
    # someone re-subscribes them by hand in the tool
    body = {"email_address": email(1), "status": "subscribed", "status_if_new": "subscribed"}
    path = f"{server.url}/3.0/lists/{LIST}/members/{fake_crm.subscriber_hash(email(1))}"
    httpx.put(path, json=body, auth=("t", KEY)).raise_for_status()
    report = reconcile(town.registry, "alpha", "crm-noord")
    assert (report.resubscribe, report.unsubscribe, report.restricted, len(report.repaired)) == (0, 1, 1, 1)
    drain(town)
    assert member_status(server, email(1)) == "archived"
    assert deliveries(town, pid)[-1] == ("restriction", "delivered", "restriction")


# -- API, rules and audit --------------------------------------------------------------------------
def test_restriction_over_http(town: Hub, api: Any) -> None:
    pid = person_of_record(town, "c1")
    service = auth(town.issue_key(roles.CLUSTER_SERVICE))
    url = f"/v1/people/{pid}/restriction"
    first = api.post(url, json={"reference": "DSR-2026-0042"}, headers=service)
    assert first.status_code == 200 and first.json() == {"id": str(pid), "status": "restricted", "changed": True}
    # idempotent: a repeated request changes nothing and enqueues nothing more
    again = api.post(url, headers=service)
    assert again.status_code == 200 and again.json()["changed"] is False
    assert [k for k, _, _ in deliveries(town, pid)].count("restriction") == 1
    # the marketer of the house no longer finds them
    marketer = auth(town.issue_key(roles.MARKETER, house=HOUSE))
    missing = api.post("/v1/people/lookup", json={"email": email(1), "purpose": "newsletter"}, headers=marketer)
    assert missing.status_code == 404 and missing.json() == {"error": "PersonNotFound", "detail": "no such person"}
    lifted = api.request("DELETE", url, json={"reference": "DSR-2026-0042"}, headers=service)
    assert lifted.status_code == 200 and lifted.json() == {"id": str(pid), "status": "active", "changed": True}
    assert api.delete(url, headers=service).json()["changed"] is False
    found = api.post("/v1/people/lookup", json={"email": email(1), "purpose": "newsletter"}, headers=marketer)
    assert found.status_code == 200

    def error(response: httpx.Response, status: int, name: str) -> None:
        assert response.status_code == status, response.text
        body = response.json()
        assert set(body) == {"error", "detail"} and body["error"] == name
        assert email(1) not in response.text

    error(api.post(url, headers=marketer), 403, "Forbidden")  # only the roles that may erase
    error(api.delete(url, headers=marketer), 403, "Forbidden")
    error(api.post(url, headers={"Authorization": "Bearer nope"}), 401, "Unauthenticated")
    error(api.post(f"/v1/people/{uuid.uuid4()}/restriction", headers=service), 404, "PersonNotFound")
    error(api.delete(f"/v1/people/{uuid.uuid4()}/restriction", headers=service), 404, "PersonNotFound")
    error(api.post("/v1/people/not-an-id/restriction", headers=service), 422, "InvalidInput")
    error(api.post(url, json={"reference": email(1)}, headers=service), 422, "InvalidInput")  # no personal data
    error(api.post(url, json={"reason": "x"}, headers=service), 422, "InvalidInput")
    assert api.post(f"/v1/people/{pid}/erase", headers=service).status_code == 200
    error(api.post(url, headers=service), 404, "ErasedPerson")
    error(api.delete(url, headers=service), 404, "ErasedPerson")


def test_an_erased_person_cannot_be_restricted_and_a_restricted_one_can_be_erased(town: Hub) -> None:
    gone, kept = person_of_record(town, "c1"), person_of_record(town, "c2")
    drain(town)
    with town.uow() as uow:
        RightsService(uow).erase(town.actor(), gone)
    with town.uow() as uow, pytest.raises(ErasedPerson):
        RightsService(uow).restrict(town.actor(), gone)
    restrict(town, kept)
    with town.uow() as uow:
        assert RightsService(uow).erase(town.actor(), kept) is True
    with town.uow() as uow, pytest.raises(ErasedPerson):
        RightsService(uow).lift_restriction(town.actor(), kept)
    assert keys_of(town, kept) == []
    # the erasure replaces the waiting restriction
    assert [(k, s) for k, s, _ in deliveries(town, kept)][-2:] == [("restriction", "superseded"), ("erase", "pending")]


def test_the_audit_log_records_both_actions_without_personal_data(town: Hub) -> None:
    pid = person_of_record(town, "c1")
    restrict(town, pid)
    restrict(town, pid)  # a no-op leaves no entry
    lift(town, pid)
    rows = town.sql(
        "SELECT action, actor, subjects, fields, detail FROM audit_entries "
        "WHERE action IN ('people.restrict', 'people.lift-restriction') ORDER BY seq"
    )
    assert [r[0] for r in rows] == ["people.restrict", "people.lift-restriction"]
    for action, actor, subjects, fields, detail in rows:
        assert json.loads(subjects) == [str(pid)]
        assert json.loads(fields) == []
        assert json.loads(detail) == {"reference": "DSR-2026-0042"}
        assert "@" not in action + actor + subjects + fields + detail
    # the worker's read of the address it needs to archive is itself audited
    cycle(town)
    reads = town.sql("SELECT purpose, fields, detail FROM audit_entries WHERE action = 'people.read'")
    parsed = [(purpose, json.loads(f), json.loads(d)) for purpose, f, d in reads]
    assert ("newsletter", ["email"], {"restriction": True}) in parsed
