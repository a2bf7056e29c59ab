"""Issue 11, point 4: looking up an unknown address and a person the caller cannot see do the same work.

Before the fix the unknown path ran one statement (the e-mail index) and the invisible path two
(the index, then the visibility test), so the invisible answer was consistently ~0.7 ms slower."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from consent_hub import roles
from consent_hub.access.service import AccessService, RelationService
from consent_hub.audit.sequencer import SEQUENCER_OPTION
from consent_hub.crypto.blind_index import BlindIndexer
from consent_hub.people.service import PeopleService
from tests.conftest import Hub, auth

KNOWN = "fenna.wuyts@example.org"
UNKNOWN = "nobody.here@example.org"
PURPOSE = "ticketing-service"

Trace = list[tuple[str, Any]]


def _shape(params: Any) -> Any:
    """A statement's parameters without their values: names and types only."""
    if isinstance(params, dict):
        return tuple(sorted((k, type(v).__name__) for k, v in params.items()))
    if isinstance(params, (list, tuple)):
        return tuple(_shape(p) if isinstance(p, (dict, list, tuple)) else type(p).__name__ for p in params)
    return type(params).__name__


@contextmanager
def work(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Iterator[Trace]:
    """Every statement the cluster database runs meanwhile (SQL text and parameter shape), with
    every blind index computed and every data key unwrapped, in the order they happen."""
    rt = hub.registry.runtime("alpha")
    seen: Trace = []

    def record(conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        # the audit sequencer chains whatever is queued when it runs: not the lookup's own work
        if not conn.get_execution_options().get(SEQUENCER_OPTION):
            seen.append(("sql", (statement, _shape(parameters))))

    keys = rt.keys
    index, unwrap = BlindIndexer.index, keys.unwrap_data_key

    def counted_index(self: BlindIndexer, name: str, normalised: str) -> bytes:
        seen.append(("blind-index", name))
        return index(self, name, normalised)

    def counted_unwrap(wrapped: bytes, person_id: bytes, kek_version: int) -> bytes:
        seen.append(("unwrap", kek_version))
        return unwrap(wrapped, person_id, kek_version)

    with monkeypatch.context() as patch:
        patch.setattr(BlindIndexer, "index", counted_index)  # slotted: patched on the class
        patch.setattr(keys, "unwrap_data_key", counted_unwrap)
        event.listen(rt.engine, "before_cursor_execute", record)
        try:
            yield seen
        finally:
            event.remove(rt.engine, "before_cursor_execute", record)


def _setup(hub: Hub) -> None:
    """Fenna is a customer of house A only: she exists, and house C cannot see her."""
    hub.add_house("huis-a")
    hub.add_house("huis-c")
    operator = hub.actor(role=roles.CLUSTER_SERVICE)
    with hub.uow() as uow:
        pid = PeopleService(uow).create(operator, {"given_name": "Fenna", "family_name": "Wuyts", "email": KNOWN})
        RelationService(uow).touch(operator, pid, "huis-a", "customer", reason="data-migration")


def _last_audit_entry(hub: Hub) -> tuple[Any, ...]:
    row = hub.sql(
        "SELECT actor, house, role, purpose, action, subjects, fields, detail FROM audit_entries"
        " ORDER BY seq DESC LIMIT 1"
    )[0]
    return tuple(row)


def test_a_miss_and_an_invisible_person_do_the_same_work(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    _setup(hub)
    house_c = hub.actor(role=roles.BOX_OFFICE, house="huis-c")
    house_a = hub.actor(role=roles.BOX_OFFICE, house="huis-a")
    for actor in (house_a, house_c):  # a first decision records the policy version: keep it out of the traces
        with hub.uow() as uow:
            AccessService(uow).grant(actor, PURPOSE)

    traces, audits = [], []
    for email in (UNKNOWN, KNOWN):
        with work(hub, monkeypatch) as seen, hub.uow() as uow:
            assert AccessService(uow).lookup_by_email(house_c, email, purpose=PURPOSE) is None
        traces.append(seen)
        audits.append(_last_audit_entry(hub))
    assert traces[0] == traces[1]
    assert [kind for kind, _ in traces[0]].count("blind-index") == 1
    assert "unwrap" not in [kind for kind, _ in traces[0]]
    assert audits[0] == audits[1]
    assert audits[0][4] == "people.lookup"

    # the counters see work when there is some: the house that knows her reads her (one unwrap)
    with work(hub, monkeypatch) as seen, hub.uow() as uow:
        found = AccessService(uow).lookup_by_email(house_a, KNOWN, purpose=PURPOSE)
    assert found is not None and found.view.fields["given_name"] == "Fenna"
    assert [kind for kind, _ in seen].count("unwrap") == 1


def test_a_miss_and_an_invisible_person_answer_alike_over_http(api: Any, hub: Hub) -> None:
    _setup(hub)
    key = auth(hub.issue_key(roles.BOX_OFFICE, house="huis-c"))
    answers = []
    for email in (UNKNOWN, KNOWN):
        resp = api.post("/v1/people/lookup", json={"email": email, "purpose": PURPOSE}, headers=key)
        # the request id is a fresh random UUID on every answer
        headers = [(k, v) for k, v in resp.headers.items() if k.lower() not in {"date", "x-request-id"}]
        answers.append((resp.status_code, resp.content, headers))
    assert answers[0] == answers[1]
    assert answers[0][0] == 404
