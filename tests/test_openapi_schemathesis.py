"""The OpenAPI document tells the truth: schemathesis sends generated requests, valid and invalid,
to every operation of the app (in process, over ASGI) with a cluster-service key, a house's key and
no key, and checks that no answer is a 5xx, that each status is declared, and that each body and
content type is the declared one (the hub's ErrorBody for every error). Bounded: a few examples per
operation, on SQLite only."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from consent_hub import roles
from consent_hub.app import create_app
from tests.conftest import Hub, auth

MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
HOUSE = "theater-noord"
PERSON = {"given_name": "Wannes", "email": "wannes@example.org", "language": "nl"}
EXAMPLES = 10  # per operation, valid and invalid requests mixed, each sent with each key: about a minute
CHECKS = [response_schema_conformance, status_code_conformance, content_type_conformance, not_a_server_error]


@pytest.fixture
def backend() -> str:
    # the document is the same on both backends; one keeps the run short
    return "sqlite"


def seed(app: Any, service_key: str, marketer_key: str) -> dict[str, str]:
    """A person (a customer of the house) and a segment of the house, through the API: path
    parameters that name them reach the routes' answers for real records, not only their 404s."""
    with TestClient(app) as api:
        person = api.post("/v1/people", json=PERSON, headers=auth(service_key)).raise_for_status().json()["id"]
        api.post(
            f"/v1/people/{person}/relations",
            json={"house": HOUSE, "kind": "customer", "reason": "registration"},
            headers=auth(service_key),
        ).raise_for_status()
        segment = api.post(
            "/v1/segments", json={"name": "all", "purpose": "newsletter"}, headers=auth(marketer_key)
        ).raise_for_status()
    return {"person_id": person, "segment_id": segment.json()["id"]}


def strategies(operation: Any, known: dict[str, str]) -> Any:
    """Generated requests, valid and invalid; where the path names a person or a segment, also
    valid ones naming the seeded record."""
    generated = [operation.as_strategy(mode) for mode in MODES]
    names = {p.name for p in operation.path_parameters}
    if names and names <= set(known):
        generated.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters={n: known[n] for n in names}))
    return st.one_of(*generated)


def test_every_answer_is_declared(hub: Hub) -> None:
    # one hub for all operations (schemathesis's pytest plugin does not run under this pytest)
    hub.add_house(HOUSE)
    service_key = hub.issue_key(roles.CLUSTER_SERVICE)
    marketer_key = hub.issue_key(roles.MARKETER, house=HOUSE)
    # a cluster-level key, a house's (the routes answer each role differently) and none (401)
    keys = [service_key, marketer_key, None]
    app = create_app(hub.settings, hub.registry)
    known = seed(app, service_key, marketer_key)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:

        @given(case=strategies(operation, known))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,  # the same requests on every run
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_declared(case: Any) -> None:
            for key in keys:
                case.call_and_validate(headers=auth(key) if key else {}, checks=CHECKS)

        try:
            answers_as_declared()
        except (Exception, FailureGroup) as exc:  # every operation is tried; all failures are reported at once
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
