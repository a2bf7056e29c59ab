"""The OpenAPI document tells the truth: schemathesis sends generated requests, valid and invalid,
to every operation of the app (in process, over ASGI) with a cluster-service key, a house's key and
no key, and checks that no answer is a 5xx, that each status is declared, and that each body and
content type is the declared one (the hub's ErrorBody for every error). Bounded: a few examples per
operation, on SQLite only."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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

MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
EXAMPLES = 10  # per operation, valid and invalid requests mixed, each sent with each key: about a minute
CHECKS = [response_schema_conformance, status_code_conformance, content_type_conformance, not_a_server_error]


@pytest.fixture
def backend() -> str:
    # the document is the same on both backends; one keeps the run short
    return "sqlite"


def test_every_answer_is_declared(hub: Hub) -> None:
    # one hub for all operations (schemathesis's pytest plugin does not run under this pytest)
    hub.add_house("theater-noord")
    # a cluster-level key, a house's (the routes answer each role differently) and none (401)
    keys = [hub.issue_key(roles.CLUSTER_SERVICE), hub.issue_key(roles.MARKETER, house="theater-noord"), None]
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(hub.settings, hub.registry))
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:

        @given(case=st.one_of(*(operation.as_strategy(mode) for mode in MODES)))
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
