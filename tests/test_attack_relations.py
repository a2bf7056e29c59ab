"""Issue 11, point 1: no role of a house can create visibility for itself.

Before the fix, house C's connector key answered 204 to ``POST /v1/people/{id}/relations`` for any
existing person (404 for a random id: an existence oracle), and C's box office then read the full
profile of a buyer known only to house A."""

from __future__ import annotations

import json
import uuid

import pytest

from consent_hub import roles
from tests.conftest import Hub, auth

BUYER = {
    "given_name": "Wannes",
    "family_name": "Deketelaere",
    "email": "wannes.deketelaere@example.org",
    "phone": "+32 478 44 55 66",
    "street_address": "Veldstraat 1",
    "postal_code": "9000",
    "city": "Gent",
    "country": "BE",
    "language": "nl",
}
HOUSE_ROLES = [roles.BOX_OFFICE, roles.MARKETER, roles.ANALYST, roles.HOUSE_DPO, roles.CONNECTOR]


def _count(hub: Hub, table: str) -> int:
    return int(hub.sql(f"SELECT count(*) FROM {table}")[0][0])


@pytest.fixture
def known_to_house_a(api, hub: Hub) -> tuple[str, dict[str, str]]:
    hub.add_house("huis-a")
    hub.add_house("huis-c")
    service = auth(hub.issue_key(roles.CLUSTER_SERVICE))
    pid = api.post("/v1/people", json=BUYER, headers=service).json()["id"]
    rel = api.post(
        f"/v1/people/{pid}/relations",
        json={"house": "huis-a", "kind": "customer", "reason": "registration"},
        headers=service,
    )
    assert rel.status_code == 204, rel.text
    return pid, service


@pytest.mark.parametrize("role", HOUSE_ROLES)
def test_a_house_key_cannot_make_a_person_its_customer(api, hub: Hub, known_to_house_a, role: str) -> None:
    pid, _ = known_to_house_a
    key = auth(hub.issue_key(role, house="huis-c"))
    box_c = auth(hub.issue_key(roles.BOX_OFFICE, house="huis-c"))
    before = (_count(hub, "relations"), _count(hub, "audit_entries"))
    body = {"house": "huis-c", "kind": "customer", "reason": "registration"}
    existing = api.post(f"/v1/people/{pid}/relations", json=body, headers=key)
    random_id = api.post(f"/v1/people/{uuid.uuid4()}/relations", json=body, headers=key)
    # refused by role alone: the existing person and a random id get the very same answer
    assert existing.status_code == 403, existing.text
    assert (existing.status_code, existing.json()) == (random_id.status_code, random_id.json())
    assert existing.json()["error"] == "Forbidden"
    assert (_count(hub, "relations"), _count(hub, "audit_entries")) == before
    # and house C's box office still cannot read the buyer
    read = api.get(f"/v1/people/{pid}", params={"purpose": "ticketing-service"}, headers=box_c)
    assert read.status_code == 404


def test_a_cluster_service_relation_needs_an_audited_reason(api, hub: Hub, known_to_house_a) -> None:
    pid, service = known_to_house_a
    before = (_count(hub, "relations"), _count(hub, "audit_entries"))
    missing = api.post(f"/v1/people/{pid}/relations", json={"house": "huis-c", "kind": "customer"}, headers=service)
    assert missing.status_code == 422
    free_text = api.post(
        f"/v1/people/{pid}/relations",
        json={
            "house": "huis-c",
            "kind": "customer",
            "reason": "registration",
            "reference": "asked by wannes.deketelaere@example.org",
        },
        headers=service,
    )
    assert free_text.status_code == 422 and "example.org" not in free_text.text
    assert (_count(hub, "relations"), _count(hub, "audit_entries")) == before

    good = api.post(
        f"/v1/people/{pid}/relations",
        json={"house": "huis-c", "kind": "customer", "reason": "box-office-correction", "reference": "TICKET-2026-17"},
        headers=service,
    )
    assert good.status_code == 204
    (detail,) = hub.sql("SELECT detail FROM audit_entries WHERE action = 'relation.touch' ORDER BY seq DESC LIMIT 1")
    recorded = json.loads(detail[0])
    assert recorded["reason"] == "box-office-correction" and recorded["reference"] == "TICKET-2026-17"
    box_c = auth(hub.issue_key(roles.BOX_OFFICE, house="huis-c"))
    read = api.get(f"/v1/people/{pid}", params={"purpose": "ticketing-service"}, headers=box_c)
    assert read.status_code == 200 and read.json()["bases"] == ["own-house-customer"]
