"""Issue 11, point 4: looking up an unknown address and a person the caller cannot see do the same work.

Before the fix the unknown path ran one statement (the e-mail index) and the invisible path two
(the index, then the visibility test), so the invisible answer was consistently ~0.7 ms slower."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from consent_hub import roles
from consent_hub.access.service import AccessService
from consent_hub.people.service import PeopleService
from tests.conftest import Hub, auth

KNOWN = "fenna.wuyts@example.org"


@contextmanager
def statements(hub: Hub) -> Iterator[list[str]]:
    """The SQL text of every statement the cluster database runs meanwhile (parameters left out)."""
    engine = hub.registry.runtime("alpha").engine
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _setup(hub: Hub) -> None:
    hub.add_house("huis-a")
    hub.add_house("huis-c")
    with hub.uow() as uow:
        PeopleService(uow).create(hub.actor(), {"given_name": "Fenna", "family_name": "Wuyts", "email": KNOWN})


def test_a_miss_and_an_invisible_person_run_the_same_statements(hub: Hub, monkeypatch) -> None:
    _setup(hub)
    actor = hub.actor(role=roles.BOX_OFFICE, house="huis-c")
    indexed: list[str] = []
    original = PeopleService.email_index

    def counted(self: PeopleService, email: str) -> bytes:
        indexed.append("index")
        return original(self, email)

    monkeypatch.setattr(PeopleService, "email_index", counted)
    with hub.uow() as uow:  # the first decision records the policy version: keep it out of the traces
        AccessService(uow).grant(actor, "ticketing-service")
    traces = []
    for email in ("nobody.here@example.org", KNOWN):
        indexed.clear()
        with statements(hub) as seen, hub.uow() as uow:
            assert AccessService(uow).lookup_by_email(actor, email, purpose="ticketing-service") is None
        traces.append((list(seen), list(indexed)))
    assert traces[0] == traces[1]
    assert traces[0][1] == ["index"]


def test_a_miss_and_an_invisible_person_answer_alike_over_http(api, hub: Hub) -> None:
    _setup(hub)
    key = auth(hub.issue_key(roles.BOX_OFFICE, house="huis-c"))
    answers = []
    for email in ("nobody.here@example.org", KNOWN):
        resp = api.post("/v1/people/lookup", json={"email": email, "purpose": "ticketing-service"}, headers=key)
        headers = {k: v for k, v in resp.headers.items() if k.lower() not in {"date", "x-request-id"}}
        answers.append((resp.status_code, resp.content, headers))
    assert answers[0] == answers[1]
    assert answers[0][0] == 404
