"""Issue 11, point 1: any route that takes a person id answers a person the caller cannot see
exactly as it answers a random id (same status, body and headers), for every role of a house.

The routes are read from the application itself, so a new route that takes a person id is
attacked without anyone listing it; it then fails until ``REQUESTS`` gives it a valid request.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from consent_hub import roles
from consent_hub.access.service import RelationService
from consent_hub.app import create_app
from consent_hub.config import HubSettings
from consent_hub.consent.service import ConsentService
from consent_hub.people.service import PeopleService
from consent_hub.rights.service import RightsService
from tests.conftest import Hub, auth
from tests.factories import consent_body

CALLER_HOUSE = "huis-c"
OTHER_HOUSE = "huis-a"
# the purpose each role of a house reads for (a role with no basis for it would be refused by
# role alone, which proves nothing about people)
READ_PURPOSE = {
    roles.BOX_OFFICE: "ticketing-service",
    roles.MARKETER: "newsletter",
    roles.ANALYST: "cluster-marketing",
    roles.HOUSE_DPO: "data-subject-request",
    roles.CONNECTOR: "ticketing-service",
}
HOUSE_ROLES = sorted(roles.HOUSE_ROLES)
IGNORED_HEADERS = frozenset({"date", "x-request-id"})  # differ between any two answers

PID = "<person id>"  # placeholders in REQUESTS
PURPOSE = "<purpose>"


@dataclass(frozen=True)
class Call:
    params: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None


def _consent_body(purpose: str = "newsletter", target: str | None = CALLER_HOUSE) -> dict[str, Any]:
    return consent_body(purpose=purpose, target=target)


# one minimal valid request per (method, route); a route missing here fails its test
REQUESTS: dict[tuple[str, str], Call] = {
    ("GET", "/v1/people/{person_id}"): Call(params={"purpose": PURPOSE}),
    ("PATCH", "/v1/people/{person_id}"): Call(json={"given_name": "Lien"}),
    ("GET", "/v1/people/{person_id}/explain"): Call(params={"purpose": PURPOSE}),
    ("POST", "/v1/people/{person_id}/relations"): Call(
        json={"house": CALLER_HOUSE, "kind": "customer", "reason": "registration"}
    ),
    ("POST", "/v1/people/{person_id}/erase"): Call(json={"reference": "DSR-2026-0042"}),
    ("POST", "/v1/people/{person_id}/restriction"): Call(json={"reference": "DSR-2026-0042"}),
    ("DELETE", "/v1/people/{person_id}/restriction"): Call(json={"reference": "DSR-2026-0042"}),
    ("POST", "/v1/people/{person_id}/consents"): Call(json=_consent_body()),
    ("GET", "/v1/people/{person_id}/consents"): Call(),
    ("GET", "/v1/people/{person_id}/consents/history"): Call(),
    ("GET", "/v1/people/{person_id}/consents/oslo"): Call(),
    ("GET", "/v1/people/{person_id}/deliveries"): Call(),
    ("GET", "/v1/audit/entries"): Call(params={"person": PID}),
}


def person_routes() -> list[tuple[str, str]]:
    """(method, path) of every route with a path or query parameter naming a person."""
    app = create_app(HubSettings.model_validate({"clusters": {}}))
    found: list[tuple[str, str]] = []
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute):
            continue
        params = [p.name for p in (*route.dependant.path_params, *route.dependant.query_params)]
        if any("person" in name for name in params):
            found.extend((method, str(ctx.path)) for method in sorted(ctx.methods or ()))
    return found


ROUTES = person_routes()


def request(api: Any, route: tuple[str, str], pid: uuid.UUID | str, key: dict[str, str], role: str) -> Any:
    method, path = route
    call = REQUESTS[route]

    def fill(value: Any) -> Any:
        return {PID: str(pid), PURPOSE: READ_PURPOSE.get(role, "ticketing-service")}.get(value, value)

    url = re.sub(r"\{person_id\}", str(pid), path)
    params = {k: fill(v) for k, v in call.params.items()}
    return api.request(method, url, params=params, json=call.json, headers=key)


def answer(response: Any) -> tuple[int, bytes, dict[str, str]]:
    headers = {k.lower(): v for k, v in response.headers.items() if k.lower() not in IGNORED_HEADERS}
    return response.status_code, response.content, headers


@pytest.fixture
def town(api, hub: Hub) -> dict[str, Any]:
    """People of every kind a house's caller cannot see, one it can see, and its keys."""
    with hub.uow() as uow:
        ConsentService(uow).sync_notices(hub.actor())
    hub.add_house(OTHER_HOUSE)
    hub.add_house(CALLER_HOUSE)

    def buyer(n: int, house: str, *, cluster_consent: bool = False) -> uuid.UUID:
        with hub.uow() as uow:
            pid = PeopleService(uow).create(
                hub.actor(), {"email": f"koper.{n}@example.org", "given_name": f"Koper{n}", "family_name": "Fictief"}
            )
            RelationService(uow).touch(hub.actor(), pid, house, "customer", reason="registration")
            consents = ConsentService(uow)
            consents.record(hub.actor(), pid, _consent_body(target=house))
            if cluster_consent:
                consents.record(hub.actor(), pid, _consent_body("cluster-marketing", None))
        return pid

    hidden = {
        "another house's buyer": buyer(1, OTHER_HOUSE),
        "restricted own buyer": buyer(2, CALLER_HOUSE),
        "erased own buyer": buyer(3, CALLER_HOUSE),
    }
    with hub.uow() as uow:
        RightsService(uow).restrict(hub.actor(), hidden["restricted own buyer"], reference="DSR-2026-0001")
        RightsService(uow).erase(hub.actor(), hidden["erased own buyer"], reference="DSR-2026-0002")
    keys = {role: auth(hub.issue_key(role, house=CALLER_HOUSE)) for role in HOUSE_ROLES}
    return {"visible": buyer(4, CALLER_HOUSE, cluster_consent=True), "hidden": hidden, "keys": keys}


def test_every_route_that_takes_a_person_has_a_request() -> None:
    assert ROUTES, "no route takes a person id: the enumeration is broken"
    assert [r for r in ROUTES if r not in REQUESTS] == []
    assert [r for r in REQUESTS if r not in ROUTES] == []  # a stale line means a route went


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_a_person_the_caller_cannot_see_is_answered_as_a_random_id(api, town: dict[str, Any], route) -> None:
    assert route in REQUESTS, f"give {route} a minimal valid request in REQUESTS"
    leaks = []
    for role in HOUSE_ROLES:
        key = town["keys"][role]
        for kind, pid in town["hidden"].items():
            hidden = answer(request(api, route, pid, key, role))
            nobody = answer(request(api, route, uuid.uuid4(), key, role))
            if hidden != nobody:
                leaks.append(f"{role}, {kind}: {hidden} / random id: {nobody}")
    assert leaks == [], "\n".join(leaks)


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_the_requests_are_valid(api, hub: Hub, town: dict[str, Any], route) -> None:
    """A malformed request would be refused (422) for both ids alike and prove nothing: a
    cluster-level writer's request reaches the service, which answers without a 422."""
    with hub.uow() as uow:
        pid = PeopleService(uow).create(hub.actor(), {"email": "controle@example.org", "given_name": "Controle"})
    for role in (roles.CLUSTER_SERVICE, roles.CLUSTER_DPO):
        got = request(api, route, pid, auth(hub.issue_key(role)), role)
        assert got.status_code != 422 and got.status_code < 500, (role, got.text)


@pytest.mark.parametrize("role", [r for r in HOUSE_ROLES if r != roles.CONNECTOR])
def test_the_same_caller_does_see_its_own_consenting_buyer(api, town: dict[str, Any], role: str) -> None:
    # so the answers compared above are those of a caller who reads people, not of a broken set-up
    key = town["keys"][role]
    for route in (("GET", "/v1/people/{person_id}"), ("GET", "/v1/people/{person_id}/explain")):
        got = request(api, route, town["visible"], key, role)
        assert got.status_code == 200, (role, route, got.text)
