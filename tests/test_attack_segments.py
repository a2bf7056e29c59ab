"""A filter is a read (issue 11, point 2): a marketer may not learn through a segment's filters
what the fields of the same grant hide: purchases at another house, a postal area.

The town of tests/test_audiences.py, plus twelve subscribers of house A's newsletter who bought
only at house B, one of them the only person living in postal area 90. Every path that answers a
segment (count, breakdown, save, saved count, CSV export, push to a destination) is attacked.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from consent_hub import roles
from consent_hub.access.policy import FIELD_GROUPS, AccessPolicy
from consent_hub.audiences.schemas import FILTER_READS, PURCHASES, SegmentDefinition, SegmentFilters
from consent_hub.consent.catalogue import POLICIES_DIR
from consent_hub.ingest.records import CustomerRecord, EngineOptIn, SaleLine
from consent_hub.ingest.service import IngestService
from consent_hub.storage.models import Segment
from tests.conftest import Hub, auth
from tests.factories import add_newsletter_audience
from tests.test_audiences import DANCE, T0, A, B, build_town

SUBSCRIBERS_BUYING_AT_B = 12


def add_a_subscribers_buying_at_b(hub: Hub) -> None:
    customers, lines = [], []
    for i in range(SUBSCRIBERS_BUYING_AT_B):
        ref = f"ab{i}"
        fields = {"email": f"abonnee.{i}@example.org", "given_name": f"Abonnee{i}", "family_name": "Fictief"}
        fields["postal_code"] = "9000" if i == 0 else "8500"
        customers.append(CustomerRecord(ref, fields, T0, opt_ins=[EngineOptIn("news", "newsletter", A, True, T0)]))
        lines.append(SaleLine(f"sab{i}", ref, B, "e-dance-b", f"oab{i}", "Volw.", None, 2500, 1, "online", T0))
    with hub.uow() as uow:
        ingest = IngestService(uow, hub.actor(), "tixly")
        ingest.upsert_customers(customers)
        ingest.record_sales(lines)


@pytest.fixture
def town(hub: Hub, api: Any) -> dict[str, Any]:
    build_town(hub)
    add_a_subscribers_buying_at_b(hub)
    add_newsletter_audience(hub, "crm-leie", house=A)
    keys = {
        name: auth(hub.issue_key(role, house=A))
        for name, role in (("marketer", roles.MARKETER), ("analyst", roles.ANALYST))
    }
    return {"hub": hub, "api": api, "keys": keys}


def definition(purpose: str = "newsletter", **filters: Any) -> dict[str, Any]:
    return {"name": f"probe {uuid.uuid4().hex[:8]}", "purpose": purpose, "filters": filters}


def saved_behind_the_rule(hub: Hub, data: dict[str, Any]) -> uuid.UUID:
    """A segment stored as if saved before the policy changed: its count and export must still refuse."""
    now = dt.datetime.now(dt.UTC)
    segment_id = uuid.uuid4()
    with hub.uow() as uow:
        uow.session.add(
            Segment(
                id=segment_id,
                house=A,
                name=data["name"],
                purpose=data["purpose"],
                definition=SegmentDefinition.model_validate(data).model_dump_json(),
                created_by="test",
                created_at=now,
                updated_at=now,
            )
        )
    return segment_id


def every_path(town: dict[str, Any], data: dict[str, Any], who: str = "marketer") -> dict[str, Any]:
    """The answer of each path that answers a segment, for one definition."""
    api, hub, h = town["api"], town["hub"], town["keys"][who]
    sid = saved_behind_the_rule(hub, data)
    return {
        "count": api.post("/v1/segments/count", json={"definition": data}, headers=h),
        "breakdown": api.post("/v1/segments/count", json={"definition": data, "breakdown": "month"}, headers=h),
        "save": api.post("/v1/segments", json=data, headers=h),
        "saved count": api.get(f"/v1/segments/{sid}/count", headers=h),
        "csv export": api.post(f"/v1/segments/{sid}/exports", json={"format": "csv"}, headers=h),
        "push": api.post(
            f"/v1/segments/{sid}/exports", json={"format": "destination", "destination": "crm-leie"}, headers=h
        ),
    }


def assert_refused_naming(town: dict[str, Any], answers: dict[str, Any], name: str) -> None:
    hub = town["hub"]
    for path, answer in answers.items():
        assert answer.status_code == 403, (path, answer.status_code, answer.text)
        body = answer.json()
        assert body["error"] == "FilterNotAllowed" and name in body["detail"], (path, body)
    # nothing was exported, pushed or saved by any of them
    assert hub.sql("SELECT count(*) FROM audience_exports") == [(0,)]
    assert hub.sql("SELECT count(*) FROM outbox WHERE cause LIKE 'export:%'") == [(0,)]
    # nor saved: the segments are only the ones stored behind the rule by ``every_path``
    assert hub.sql("SELECT count(*) FROM segments WHERE created_by <> 'test'") == [(0,)]


def test_purchases_at_another_house_are_refused_on_every_path(town: dict[str, Any]) -> None:
    answers = every_path(town, definition(houses=[B]))
    assert_refused_naming(town, answers, "'houses'")
    # the same with the other house beside the own one
    assert_refused_naming(town, every_path(town, definition(houses=[A, B], uit_event_types=[DANCE])), "'houses'")


def test_a_postal_area_is_refused_to_a_marketer_on_every_path(town: dict[str, Any]) -> None:
    assert_refused_naming(town, every_path(town, definition(postal_areas=["90"])), "'postal_areas'")


def test_the_newsletter_reads_the_own_house_lines_only(town: dict[str, Any]) -> None:
    """Without a house filter a newsletter segment is narrowed to the own house's lines: the
    subscribers who bought only at B are visible to A's marketer, but not through their purchases."""
    api, hub, h = town["api"], town["hub"], town["keys"]["marketer"]
    sid = api.post("/v1/segments", json=definition(uit_event_types=[DANCE]), headers=h).json()["id"]
    exported = api.post(f"/v1/segments/{sid}/exports", json={"format": "csv"}, headers=h)
    assert exported.status_code == 200
    emails = {line.split(",")[0] for line in exported.text.splitlines()[1:]}
    assert len(emails) == 30  # A's own dance buyers; 42 before the rule
    assert not any(e.startswith("abonnee.") for e in emails)
    same = api.post(f"/v1/segments/{sid}/exports", json={"format": "csv"}, headers=h)
    assert same.status_code == 200
    # naming the own house is allowed, and the answer is the same
    own = api.post("/v1/segments", json=definition(houses=[A], uit_event_types=[DANCE]), headers=h)
    assert own.status_code == 201
    # a breakdown by house would compare the houses' sales
    by_house = api.post(
        "/v1/segments/count", json={"definition": definition(uit_event_types=[DANCE]), "breakdown": "house"}, headers=h
    )
    assert by_house.status_code == 403 and "breakdown by house" in by_house.json()["detail"]
    assert hub.sql("SELECT count(*) FROM audit_entries WHERE action = 'audience.export'") == [(2,)]


def test_a_grant_with_purchases_cluster_may_filter_on_another_house(town: dict[str, Any]) -> None:
    api, h = town["api"], town["keys"]
    cluster = definition("cluster-marketing", houses=[B], uit_event_types=[DANCE])
    assert api.post("/v1/segments/count", json={"definition": cluster}, headers=h["marketer"]).status_code == 200
    by_house = {"definition": cluster, "breakdown": "house"}
    assert api.post("/v1/segments/count", json=by_house, headers=h["analyst"]).status_code == 200
    # but the grant still hides addresses from a marketer, whatever the purpose
    area = definition("cluster-marketing", postal_areas=["90"])
    refused = api.post("/v1/segments/count", json={"definition": area}, headers=h["marketer"])
    assert refused.status_code == 403 and "'postal_areas'" in refused.json()["detail"]


def test_an_analyst_counts_but_never_exports(town: dict[str, Any]) -> None:
    api, hub, h = town["api"], town["hub"], town["keys"]["analyst"]
    data = definition("cluster-marketing", uit_event_types=[DANCE])
    assert api.post("/v1/segments/count", json={"definition": data}, headers=h).status_code == 200
    sid = api.post("/v1/segments", json=data, headers=h).json()["id"]
    export = api.post(f"/v1/segments/{sid}/exports", json={"format": "csv"}, headers=h)
    assert export.status_code == 403 and export.json()["error"] == "Forbidden"
    assert hub.sql("SELECT count(*) FROM audience_exports") == [(0,)]


def test_a_grant_without_purchases_has_no_segment(town: dict[str, Any]) -> None:
    api, h = town["api"], town["keys"]["marketer"]
    answer = api.post("/v1/segments/count", json={"definition": definition("share-with-house")}, headers=h)
    assert answer.status_code == 403 and "'purchases-house'" in answer.json()["detail"]


def test_the_rule_is_compiled_from_the_policy(town: dict[str, Any], tmp_path: Path, monkeypatch: Any) -> None:
    """Take the marketer's own-house purchases line out of the policy: the dance filter that read
    them is refused at once, with no change to the code."""
    api, h = town["api"], town["keys"]["marketer"]
    data = definition(uit_event_types=[DANCE])
    assert api.post("/v1/segments/count", json={"definition": data}, headers=h).status_code == 200
    shutil.copy(POLICIES_DIR / "model.conf", tmp_path / "model.conf")
    lines = (POLICIES_DIR / "policy.csv").read_text().splitlines()
    kept = [line for line in lines if line != "p, marketer, *, purchases-house, read, newsletter, consent-house, allow"]
    assert len(kept) == len(lines) - 1
    (tmp_path / "policy.csv").write_text("\n".join(kept) + "\n")
    policy = AccessPolicy(tmp_path)
    monkeypatch.setattr("consent_hub.access.service.access_policy", lambda: policy)
    refused = api.post("/v1/segments/count", json={"definition": data}, headers=h)
    assert refused.status_code == 403 and "'uit_event_types'" in refused.json()["detail"]


def test_every_filter_declares_the_field_group_it_reads() -> None:
    assert set(FILTER_READS) == set(SegmentFilters.model_fields)
    assert set(FILTER_READS.values()) <= set(FIELD_GROUPS) | {PURCHASES}
    schema = SegmentFilters.model_json_schema()["properties"]
    assert all(schema[name]["x-reads"] == reads for name, reads in FILTER_READS.items())
