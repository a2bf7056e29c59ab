"""The OSLO Toestemming export conforms to the published SHACL shapes (pyshacl)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
from pyshacl import validate
from rdflib import Graph

from consent_hub.consent.service import ConsentService
from consent_hub.people.service import PeopleService
from tests.conftest import Hub
from tests.test_consent import grant

SHAPES = (
    Path(__file__).resolve().parents[1] / "policies" / "schemas" / "oslo-toestemming" / "contactvoorkeuren-SHACL.ttl"
)


def conforms(doc: dict) -> tuple[bool, str]:
    data = Graph().parse(data=json.dumps(doc), format="json-ld")
    ok, _, text = validate(data, shacl_graph=Graph().parse(SHAPES, format="turtle"), inference="none")
    return bool(ok), str(text)


@pytest.fixture
def export(hub: Hub) -> dict:
    with hub.uow() as uow:
        ConsentService(uow).sync_notices(hub.actor())
    hub.add_house("schouwburg-noord")
    with hub.uow() as uow:
        pid = PeopleService(uow).create(hub.actor(), {"email": "wout.maes@example.org"})
    now = dt.datetime.now(dt.UTC)
    with hub.uow() as uow:
        svc = ConsentService(uow)
        svc.record(hub.actor(), pid, grant())
        svc.record(hub.actor(), pid, {**grant("cluster-marketing", None), "status": "refused"})
        svc.record(
            hub.actor(),
            pid,
            grant(
                "audience-research",
                "uit-platform",
                given_at=(now - dt.timedelta(days=9)).isoformat(),
                expires_at=(now - dt.timedelta(days=1)).isoformat(),
            ),
        )
    with hub.uow() as uow:
        return ConsentService(uow).oslo_jsonld(hub.actor(), pid)


def test_export_conforms_to_the_oslo_shapes(export: dict) -> None:
    ok, report = conforms(export)
    assert ok, report
    statuses = sorted(
        n["toestemming:status"]["@id"].rsplit("/", 1)[1] for n in export["@graph"] if "toestemming:status" in n
    )
    assert statuses == ["geweigerd", "nietGekend", "toegelaten"]


def test_a_consent_without_its_date_does_not_conform(export: dict) -> None:
    broken = json.loads(json.dumps(export))
    for node in broken["@graph"]:
        node.pop("gegevenOp", None)
    ok, report = conforms(broken)
    assert not ok and "gegevenOp" in report


def test_export_names_no_personal_data(export: dict) -> None:
    text = json.dumps(export)
    assert "wout" not in text.lower() and "example.org" not in text
    assert all(
        uuid.UUID(n["@id"].removeprefix("urn:uuid:")) for n in export["@graph"] if n["@id"].startswith("urn:uuid:")
    )
