"""Issue 11: three promises that survived hand-made mutations of the invariants, each now with a
test that fails under that mutation (SQLite and PostgreSQL).

a. A restricted or erased person drops out of cluster-level counts, cluster-level visible ids and
   ``explain`` (mutation: no person-status condition in the visibility predicate).
b. A consent change and its outbox deliveries commit together, invariant 8 (mutation: the
   deliveries enqueued after the commit, in a second session).
c. The fields shown follow only the bases the caller holds for the person, invariant 3 (mutation:
   the field groups of every basis of the grant, unioned). The shipped policy never gives two bases
   different groups, so this test writes its own policy.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from consent_hub import roles
from consent_hub.access.policy import AccessPolicy
from consent_hub.access.repository import AccessRepository
from consent_hub.access.service import AccessService, RelationService
from consent_hub.actors import Actor
from consent_hub.consent.catalogue import POLICIES_DIR
from consent_hub.consent.schemas import ConsentRecord
from consent_hub.consent.service import ConsentService
from consent_hub.errors import NotFound
from consent_hub.outbox.repository import OutboxRepository
from consent_hub.people.service import PeopleService
from consent_hub.rights.service import RightsService
from consent_hub.storage.models import ConsentEvent, ConsentState, OutboxDelivery
from tests.conftest import Hub, auth
from tests.factories import add_newsletter_audience, consent_body

HOUSE = "schouwburg-noord"


def new_person(hub: Hub, n: int, **extra: str) -> uuid.UUID:
    with hub.uow() as uow:
        return PeopleService(uow).create(
            hub.actor(),
            {
                "email": f"lid.{n}@example.org",
                "given_name": f"Lid{n}",
                "family_name": "Fictief",
                "phone": f"+32 478 00 00 {n:02d}",
                "language": "nl",
                **extra,
            },
        )


def newsletter(status: str = "granted", house: str = HOUSE) -> dict[str, Any]:
    return consent_body(target=house, status=status)


# == a. restricted and erased people drop out of every cluster-level path ========================
CLUSTER_CALLERS = [
    # role, a purpose the role reaches everyone for (through any-in-cluster)
    (roles.CLUSTER_SERVICE, "ticketing-service"),
    (roles.CLUSTER_DPO, "data-subject-request"),
]
LEFT_OUT = ["restricted", "erased"]


@pytest.fixture
def three_people(hub: Hub) -> dict[str, uuid.UUID]:
    """One active person, one restricted, one erased."""
    people = {status: new_person(hub, n) for n, status in enumerate(("active", "restricted", "erased"), start=1)}
    with hub.uow() as uow:
        RightsService(uow).restrict(hub.actor(), people["restricted"], reference="DSR-2026-0041")
        RightsService(uow).erase(hub.actor(), people["erased"], reference="DSR-2026-0042")
    return people


def cluster_actor(role: str) -> Actor:
    return Actor(f"test:{role}", "alpha", role, None)


@pytest.mark.parametrize("role, purpose", CLUSTER_CALLERS)
def test_a_cluster_level_count_counts_only_the_active_person(
    api, hub: Hub, three_people: dict[str, uuid.UUID], role: str, purpose: str
) -> None:
    key = auth(hub.issue_key(role))
    got = api.get("/v1/people/count", params={"purpose": purpose}, headers=key)
    assert got.status_code == 200, got.text
    assert got.json()["count"] == 1  # the restricted and the erased person are still rows in `people`


@pytest.mark.parametrize("role, purpose", CLUSTER_CALLERS)
def test_cluster_level_visible_ids_hold_only_the_active_person(
    hub: Hub, three_people: dict[str, uuid.UUID], role: str, purpose: str
) -> None:
    with hub.uow() as uow:
        compiled, scope = AccessService(uow).grant(cluster_actor(role), purpose)
        assert compiled.bases == ["any-in-cluster"] and scope.house is None
        ids = AccessRepository(uow.session).visible_ids(compiled.bases, scope)
    assert set(ids) == {three_people["active"]}


@pytest.mark.parametrize("status", LEFT_OUT)
@pytest.mark.parametrize("role, purpose", CLUSTER_CALLERS)
def test_explain_answers_a_left_out_person_as_nobody(
    api, hub: Hub, three_people: dict[str, uuid.UUID], role: str, purpose: str, status: str
) -> None:
    key = auth(hub.issue_key(role))

    def explain(pid: uuid.UUID | str) -> Any:
        return api.get(f"/v1/people/{pid}/explain", params={"purpose": purpose}, headers=key)

    active = explain(three_people["active"])
    assert active.status_code == 200 and active.json()["visible"] is True
    left_out, nobody = explain(three_people[status]), explain(uuid.uuid4())
    # not a 200 saying "not visible": explain answers only about people the caller can see
    assert left_out.status_code == nobody.status_code == 404
    assert left_out.json() == nobody.json() == {"error": "PersonNotFound", "detail": "no such person"}
    with hub.uow() as uow, pytest.raises(NotFound):
        AccessService(uow).explain(cluster_actor(role), three_people[status], purpose=purpose)


# == b. a consent change and its deliveries commit together (invariant 8) =======================
class OutboxInsertFailed(RuntimeError):
    pass


@pytest.fixture
def with_destination(hub: Hub) -> Hub:
    """A newsletter destination of HOUSE, so that every grant to HOUSE enqueues an upsert. Nothing
    is ever sent (no worker runs), so the address points nowhere."""
    with hub.uow() as uow:
        ConsentService(uow).sync_notices(hub.actor())
    hub.add_house(HOUSE)
    add_newsletter_audience(hub, "crm-noord", house=HOUSE)
    return hub


def _record_over_http(api: Any, hub: Hub, pid: uuid.UUID) -> bool:
    got = api.post(f"/v1/people/{pid}/consents", json=newsletter(), headers=auth(hub.issue_key(roles.CLUSTER_SERVICE)))
    assert got.status_code in (201, 500), got.text
    return bool(got.status_code == 201)


def _record_in_service(api: Any, hub: Hub, pid: uuid.UUID) -> bool:
    try:
        with hub.uow() as uow:
            ConsentService(uow).record(hub.actor(), pid, newsletter())
    except OutboxInsertFailed:
        return False
    return True


def _record_as_import(api: Any, hub: Hub, pid: uuid.UUID) -> bool:
    try:
        with hub.uow() as uow:
            items = [(pid, ConsentRecord.model_validate(newsletter()), "tixly:opt-in:1")]
            assert len(ConsentService(uow).record_many(hub.actor(), items)) == 1
    except OutboxInsertFailed:
        return False
    return True


RECORDERS: dict[str, Callable[[Any, Hub, uuid.UUID], bool]] = {
    "POST /v1/people/{id}/consents": _record_over_http,
    "ConsentService.record": _record_in_service,
    "ConsentService.record_many": _record_as_import,
}


def committed(hub: Hub, pid: uuid.UUID) -> tuple[int, int, list[tuple[str, str]]]:
    """(events, states, [(delivery kind, cause)]) of the person, read in a fresh unit of work."""
    with hub.uow() as uow:
        s = uow.session
        events = s.scalars(select(ConsentEvent.id).where(ConsentEvent.person_id == pid)).all()
        states = s.scalars(select(ConsentState.event_id).where(ConsentState.person_id == pid)).all()
        deliveries = s.execute(
            select(OutboxDelivery.kind, OutboxDelivery.cause).where(OutboxDelivery.person_id == pid)
        ).all()
    return len(events), len(states), [(k, c) for k, c in deliveries]


@pytest.mark.parametrize("path", list(RECORDERS))
def test_a_failing_outbox_insert_leaves_no_consent_behind(
    api, with_destination: Hub, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    hub = with_destination
    pid = new_person(hub, 1)

    def fail(self: OutboxRepository, rows: Any) -> None:
        raise OutboxInsertFailed("injected: the outbox insert fails")

    with monkeypatch.context() as m:
        m.setattr(OutboxRepository, "add", fail)
        assert RECORDERS[path](api, hub, pid) is False  # the request itself fails
    # neither the event nor its projection was committed without the delivery
    assert committed(hub, pid) == (0, 0, [])


@pytest.mark.parametrize("path", list(RECORDERS))
def test_without_the_failure_the_event_and_its_delivery_are_both_there(api, with_destination: Hub, path: str) -> None:
    hub = with_destination
    pid = new_person(hub, 1)
    assert RECORDERS[path](api, hub, pid) is True
    n_events, n_states, deliveries = committed(hub, pid)
    with hub.uow() as uow:
        (event_id,) = uow.session.scalars(select(ConsentEvent.id).where(ConsentEvent.person_id == pid)).all()
    assert (n_events, n_states, deliveries) == (1, 1, [("upsert", f"consent:{event_id}")])


# == c. the fields shown follow only the bases held (invariant 3) ===============================
# The box office of HOUSE reaches its customers and its program subscribers, but each basis gives
# another field group: a customer shows contact fields only, a subscriber identity fields only.
SPLIT_POLICY = """\
p, box-office, *, contact, read, ticketing-service, own-house-customer, allow
p, box-office, *, identity, read, ticketing-service, program-subscriber, allow
"""
CONTACT = {"email", "phone"}
IDENTITY = {"given_name", "family_name", "language"}
BOX = Actor("test:box-office", "alpha", roles.BOX_OFFICE, HOUSE)


@pytest.fixture
def split_policy(tmp_path: Path) -> AccessPolicy:
    directory = tmp_path / "split-policy"
    directory.mkdir()
    shutil.copy(POLICIES_DIR / "model.conf", directory / "model.conf")
    (directory / "policy.csv").write_text(SPLIT_POLICY, encoding="utf-8")
    policy = AccessPolicy(directory)
    compiled = policy.compile(roles.BOX_OFFICE, HOUSE, "ticketing-service")
    assert compiled.groups_by_basis == {
        "own-house-customer": frozenset({"contact"}),
        "program-subscriber": frozenset({"identity"}),
    }
    return policy


@pytest.fixture
def customer_and_subscriber(hub: Hub) -> dict[str, uuid.UUID]:
    """A customer of HOUSE, a program subscriber at HOUSE, and someone who is both."""
    hub.add_house(HOUSE)
    people = {name: new_person(hub, n) for n, name in enumerate(("customer", "subscriber", "both"), start=1)}
    with hub.uow() as uow:
        relations = RelationService(uow)
        for name, kind, program in (
            ("customer", "customer", ""),
            ("subscriber", "subscriber", "abonnement-noord"),
            ("both", "customer", ""),
            ("both", "subscriber", "abonnement-noord"),
        ):
            relations.touch(hub.actor(), people[name], HOUSE, kind, reason="registration", program=program)
    return people


FIELDS_BY_BASIS = [
    # who, the bases that hold for them, the fields shown
    ("customer", ["own-house-customer"], CONTACT),
    ("subscriber", ["program-subscriber"], IDENTITY),
    ("both", ["own-house-customer", "program-subscriber"], CONTACT | IDENTITY),
]


@pytest.mark.parametrize("who, bases, shown", FIELDS_BY_BASIS, ids=[row[0] for row in FIELDS_BY_BASIS])
def test_a_read_shows_the_fields_of_the_bases_held_only(
    hub: Hub, split_policy: AccessPolicy, customer_and_subscriber: dict[str, uuid.UUID], who, bases, shown
) -> None:
    pid = customer_and_subscriber[who]
    with hub.uow() as uow:
        got = AccessService(uow, split_policy).get(BOX, pid, purpose="ticketing-service")
    assert got.bases == bases
    assert set(got.view.fields) == shown
    assert all(got.view.fields[f] for f in shown)  # really decrypted, not just named


@pytest.mark.parametrize("who, bases, shown", FIELDS_BY_BASIS, ids=[row[0] for row in FIELDS_BY_BASIS])
def test_a_lookup_by_email_shows_the_fields_of_the_bases_held_only(
    hub: Hub, split_policy: AccessPolicy, customer_and_subscriber: dict[str, uuid.UUID], who, bases, shown
) -> None:
    n = ("customer", "subscriber", "both").index(who) + 1
    with hub.uow() as uow:
        got = AccessService(uow, split_policy).lookup_by_email(BOX, f"lid.{n}@example.org", purpose="ticketing-service")
    assert got is not None and got.view.id == customer_and_subscriber[who]
    assert got.bases == bases and set(got.view.fields) == shown


@pytest.mark.parametrize("who, bases, shown", FIELDS_BY_BASIS, ids=[row[0] for row in FIELDS_BY_BASIS])
def test_explain_names_the_groups_of_the_bases_held_only(
    hub: Hub, split_policy: AccessPolicy, customer_and_subscriber: dict[str, uuid.UUID], who, bases, shown
) -> None:
    groups = sorted({"own-house-customer": "contact", "program-subscriber": "identity"}[b] for b in bases)
    with hub.uow() as uow:
        e = AccessService(uow, split_policy).explain(BOX, customer_and_subscriber[who], purpose="ticketing-service")
    assert e.visible and e.field_groups == groups
    assert sorted(r["basis"] for r in e.reasons if r["grants"]) == bases
