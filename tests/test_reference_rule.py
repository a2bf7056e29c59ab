"""Issue 11: one reference rule for every path that writes a caller's reference into the audit
log (``validation.reference_detail``). The log is append-only, so a reference carrying an e-mail
address, a phone number or a name would stay there for good.

Truth table: every path (service, HTTP, CLI) x every reference below. A refused reference gets
the hub's error shape (CLI: a non-zero exit and a message naming the field), changes nothing,
appends no audit entry and quotes no part of itself; a register-style reference is accepted and
recorded in the entry's detail. A new path is one line in ``PATHS``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from consent_hub import roles
from consent_hub.access.service import RelationService
from consent_hub.actors import Actor
from consent_hub.cli import app as cli_app
from consent_hub.errors import HubError
from consent_hub.people.service import PeopleService
from consent_hub.rights.service import RightsService
from consent_hub.storage.models import Person
from tests.conftest import Hub, auth

HOUSE = "schouwburg-noord"
SERVICE = Actor("test:cluster-service", "alpha", roles.CLUSTER_SERVICE, None)
REGISTER_REFERENCE = "DSR-2026-0042"
REFUSED = {
    # the reference, and the parts of it that must not come back in the error
    "e-mail address": ("wannes.deketelaere@example.org", ["wannes", "deketelaere", "example.org"]),
    "phone number": ("+32 478 44 55 66", ["+32", "478 44"]),
    "phone number without spaces": ("0478445566", ["0478445566"]),
    "phone number with separators": ("0478/44.55.66", ["0478/44"]),
    "sentence with a name": ("verzoek van Wannes Deketelaere", ["verzoek", "wannes", "deketelaere"]),
}


@dataclass
class Answer:
    ok: bool
    text: str  # everything the caller is told
    shape_ok: bool  # {"error", "detail"} with a 4xx status, or a non-zero exit naming the field


@dataclass
class World:
    hub: Hub
    api: Any
    service_key: dict[str, str]
    cli: CliRunner


def _service(call: Callable[[Any, uuid.UUID, str], object]) -> Callable[[World, uuid.UUID, str], Answer]:
    def run(w: World, pid: uuid.UUID, reference: str) -> Answer:
        try:
            with w.hub.uow() as uow:
                call(uow, pid, reference)
        except HubError as exc:
            body = {"error": exc.name, "detail": exc.detail}
            return Answer(False, json.dumps(body), 400 <= exc.status_code < 500)
        return Answer(True, "", True)

    return run


def _http(method: str, suffix: str, body: Callable[[str], dict[str, Any]]) -> Callable[[World, uuid.UUID, str], Answer]:
    def run(w: World, pid: uuid.UUID, reference: str) -> Answer:
        got = w.api.request(method, f"/v1/people/{pid}{suffix}", json=body(reference), headers=w.service_key)
        if got.status_code < 300:
            return Answer(True, got.text, True)
        shape = got.status_code in range(400, 500) and set(got.json()) == {"error", "detail"}
        return Answer(False, got.text, shape)

    return run


def _cli(command: str) -> Callable[[World, uuid.UUID, str], Answer]:
    def run(w: World, pid: uuid.UUID, reference: str) -> Answer:
        result = w.cli.invoke(cli_app, ["people", command, "-c", "alpha", str(pid), "--reference", reference])
        return Answer(result.exit_code == 0, result.output, result.exit_code != 0 and "reference" in result.output)

    return run


def _reference(reference: str) -> dict[str, Any]:
    return {"reference": reference}


def _relation(reference: str) -> dict[str, Any]:
    return {"house": HOUSE, "kind": "customer", "reason": "registration", "reference": reference}


def _touch(uow: Any, pid: uuid.UUID, reference: str) -> None:
    RelationService(uow).touch(SERVICE, pid, HOUSE, "customer", reason="registration", reference=reference)


def _rights(method: str) -> Callable[[Any, uuid.UUID, str], object]:
    def call(uow: Any, pid: uuid.UUID, reference: str) -> object:
        return getattr(RightsService(uow), method)(SERVICE, pid, reference=reference)

    return call


@dataclass(frozen=True)
class Path:
    call: Callable[[World, uuid.UUID, str], Answer]
    action: str  # the audit entry it appends
    starts: str  # the person's status it works from (a lift needs a restricted person)


PATHS: dict[str, Path] = {
    "service RightsService.erase": Path(_service(_rights("erase")), "people.erase", "active"),
    "service RightsService.restrict": Path(_service(_rights("restrict")), "people.restrict", "active"),
    "service RightsService.lift_restriction": Path(
        _service(_rights("lift_restriction")), "people.lift-restriction", "restricted"
    ),
    "service RelationService.touch": Path(_service(_touch), "relation.touch", "active"),
    "http POST /erase": Path(_http("POST", "/erase", _reference), "people.erase", "active"),
    "http POST /restriction": Path(_http("POST", "/restriction", _reference), "people.restrict", "active"),
    "http DELETE /restriction": Path(
        _http("DELETE", "/restriction", _reference), "people.lift-restriction", "restricted"
    ),
    "http POST /relations": Path(_http("POST", "/relations", _relation), "relation.touch", "active"),
    "cli people erase": Path(_cli("erase"), "people.erase", "active"),
    "cli people restrict": Path(_cli("restrict"), "people.restrict", "active"),
    "cli people lift-restriction": Path(_cli("lift-restriction"), "people.lift-restriction", "restricted"),
    # RelationService.touch has no CLI command
}


@pytest.fixture
def world(api, hub: Hub, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("CONSENT_HUB_CONFIG", str(hub.dir / "hub.toml"))
    hub.add_house(HOUSE)
    return World(hub, api, auth(hub.issue_key(roles.CLUSTER_SERVICE)), CliRunner())


def person_in(w: World, status: str) -> uuid.UUID:
    with w.hub.uow() as uow:
        people = PeopleService(uow)
        pid = people.create(
            w.hub.actor(), {"email": "lid.1@example.org", "given_name": "Lid", "family_name": "Fictief"}
        )
        if status == "restricted":
            RightsService(uow).restrict(w.hub.actor(), pid, reference="DSR-2026-0001")
    return pid


def state(w: World, pid: uuid.UUID) -> dict[str, Any]:
    """Everything a path could change: the person, and the rows of every table it writes."""
    with w.hub.uow() as uow:
        status = uow.session.scalar(select(Person.status).where(Person.id == pid))
    tables = ("audit_entries", "relations", "access_keys", "suppressions", "outbox")
    counts = {t: int(w.hub.sql(f"SELECT count(*) FROM {t}")[0][0]) for t in tables}
    return {"status": status, **counts}


def entries(w: World, action: str) -> list[dict[str, Any]]:
    rows = w.hub.sql("SELECT detail FROM audit_entries WHERE action = :a ORDER BY seq", a=action)
    return [json.loads(d) if isinstance(d, str) else d for (d,) in rows]


@pytest.mark.parametrize("kind", list(REFUSED))
@pytest.mark.parametrize("path", list(PATHS))
def test_a_reference_with_personal_data_is_refused_and_leaves_no_trace(world: World, path: str, kind: str) -> None:
    reference, parts = REFUSED[kind]
    p = PATHS[path]
    pid = person_in(world, p.starts)
    before = state(world, pid)
    answer = p.call(world, pid, reference)
    assert not answer.ok, f"{path} accepted a reference holding: {kind}"
    assert answer.shape_ok, answer.text
    assert state(world, pid) == before  # nothing changed, no audit entry appended
    told = answer.text.lower()
    assert [part for part in parts if part.lower() in told] == []


@pytest.mark.parametrize("path", list(PATHS))
def test_a_register_reference_is_accepted_and_recorded_in_the_audit_entry(world: World, path: str) -> None:
    p = PATHS[path]
    pid = person_in(world, p.starts)
    before = state(world, pid)
    answer = p.call(world, pid, REGISTER_REFERENCE)
    assert answer.ok, answer.text
    assert state(world, pid) != before  # the path did its work
    assert entries(world, p.action)[-1]["reference"] == REGISTER_REFERENCE


@pytest.mark.parametrize(
    "operation, starts",
    [("erase", "erased"), ("restrict", "restricted"), ("lift_restriction", "active")],
)
def test_a_repeat_that_changes_nothing_refuses_the_reference_alike(world: World, operation: str, starts: str) -> None:
    """The rule is checked before the person is looked at: an erasure of someone already erased
    (a no-op) refuses a bad reference exactly as the first erasure does."""
    pid = person_in(world, "restricted" if starts == "restricted" else "active")
    if starts == "erased":
        with world.hub.uow() as uow:
            RightsService(uow).erase(world.hub.actor(), pid, reference=REGISTER_REFERENCE)
    with world.hub.uow() as uow, pytest.raises(HubError) as refused:
        getattr(RightsService(uow), operation)(world.hub.actor(), pid, reference=REFUSED["e-mail address"][0])
    assert refused.value.status_code == 422
