"""Purposes, notices and consent events (both backends)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa

from consent_hub import roles
from consent_hub.consent.catalogue import Catalogue, load_catalogue
from consent_hub.consent.service import ConsentService
from consent_hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from consent_hub.people.service import PeopleService
from consent_hub.rights.service import RightsService
from tests.conftest import Hub, auth
from tests.factories import row_count

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def ready(hub: Hub) -> Hub:
    """A hub with published notices, two houses and one buyer."""
    with hub.uow() as uow:
        ConsentService(uow).sync_notices(hub.actor())
    hub.add_house("schouwburg-noord")
    hub.add_house("concertzaal-zuid")
    return hub


@pytest.fixture
def person(ready: Hub) -> uuid.UUID:
    with ready.uow() as uow:
        return PeopleService(uow).create(ready.actor(), {"email": "lien.desmet@example.org", "given_name": "Lien"})


def sha(purpose: str, language: str = "nl") -> str:
    return load_catalogue().get(purpose).texts[language].sha256


def grant(purpose: str = "newsletter", target: str | None = "schouwburg-noord", **extra: object) -> dict:
    return {
        "purpose": purpose,
        "target": target,
        "status": "granted",
        "notice_sha256": sha(purpose),
        "language": "nl",
        "channel": "web",
        **extra,
    }


def record(hub: Hub, pid: uuid.UUID, data: dict, key: str | None = None):  # type: ignore[no-untyped-def]
    with hub.uow() as uow:
        return ConsentService(uow).record(hub.actor(), pid, data, idempotency_key=key)


def states(hub: Hub, pid: uuid.UUID, now: dt.datetime | None = None) -> dict[tuple[str, str], str]:
    with hub.uow() as uow:
        return {
            (v.state.purpose, v.state.target_ref): v.effective_status
            for v in ConsentService(uow).current(hub.actor(), pid, now=now)
        }


def test_notices_are_versioned_by_their_hash(ready: Hub) -> None:
    assert row_count(ready, "notices") == 3 * len(load_catalogue().purposes)
    with ready.uow() as uow:
        assert ConsentService(uow).sync_notices(ready.actor()) == []  # nothing changed
    changed = load_catalogue().model_copy(deep=True)
    newsletter = changed.get("newsletter")
    newsletter.texts["nl"] = newsletter.texts["nl"].model_copy(update={"notice": "Nieuwe tekst van de nieuwsbrief."})
    with ready.uow() as uow:
        published = ConsentService(uow, Catalogue.model_validate(changed.model_dump())).sync_notices(ready.actor())
        assert [(n.purpose, n.language, n.version) for n in published] == [("newsletter", "nl", 2)]
    with ready.uow() as uow:
        assert ConsentService(uow).current_notice("newsletter", "nl").version == 2
    # the first version stays: a consent given under it is still provable
    assert row_count(ready, "notices") == 3 * len(load_catalogue().purposes) + 1


def test_grant_refuse_withdraw_and_projection(ready: Hub, person: uuid.UUID) -> None:
    record(ready, person, grant())
    assert states(ready, person) == {("newsletter", "schouwburg-noord"): "granted"}
    record(ready, person, {**grant(), "status": "refused"})
    assert states(ready, person) == {("newsletter", "schouwburg-noord"): "refused"}
    record(ready, person, grant())
    record(ready, person, {**grant(), "status": "withdrawn"})
    assert states(ready, person)[("newsletter", "schouwburg-noord")] == "withdrawn"
    with ready.uow() as uow:
        assert not ConsentService(uow).is_granted(person, "newsletter", "house", "schouwburg-noord")
        assert len(ConsentService(uow).history(ready.actor(), person)) == 4
    assert row_count(ready, "consent_events") == 4


def test_a_late_older_event_does_not_undo_a_newer_decision(ready: Hub, person: uuid.UUID) -> None:
    record(ready, person, {**grant(), "status": "withdrawn", "given_at": (NOW - dt.timedelta(days=1)).isoformat()})
    record(ready, person, grant(given_at=(NOW - dt.timedelta(days=30)).isoformat()))  # a paper form, entered late
    assert states(ready, person)[("newsletter", "schouwburg-noord")] == "withdrawn"


def test_expired_consent_does_not_count(ready: Hub, person: uuid.UUID) -> None:
    record(
        ready,
        person,
        grant(given_at=(NOW - dt.timedelta(days=10)).isoformat(), expires_at=(NOW - dt.timedelta(days=1)).isoformat()),
    )
    assert states(ready, person)[("newsletter", "schouwburg-noord")] == "expired"
    with ready.uow() as uow:
        assert not ConsentService(uow).is_granted(person, "newsletter", "house", "schouwburg-noord")
        doc = ConsentService(uow).oslo_jsonld(ready.actor(), person)
    statuses = [n["toestemming:status"]["@id"] for n in doc["@graph"] if "toestemming:status" in n]
    assert statuses == ["https://data.vlaanderen.be/id/concept/ToestemmingStatus/nietGekend"]


def test_consent_validity_comes_from_the_purpose(ready: Hub, person: uuid.UUID) -> None:
    event, _ = record(ready, person, grant())
    assert event.expires_at is not None
    assert 3 * 365 - 1 <= (event.expires_at - event.given_at).days <= 3 * 365 + 1
    assert (
        states(ready, person, now=NOW + dt.timedelta(days=3 * 365 + 2))[("newsletter", "schouwburg-noord")] == "expired"
    )


def test_idempotency_key(ready: Hub, person: uuid.UUID) -> None:
    first, created = record(ready, person, grant(), key="form-7781")
    again, created_again = record(ready, person, grant(), key="form-7781")
    assert created and not created_again and again.id == first.id
    assert row_count(ready, "consent_events") == 1
    with pytest.raises(Conflict):
        record(ready, person, {**grant(), "status": "refused"}, key="form-7781")
    assert row_count(ready, "consent_events") == 1


@pytest.mark.parametrize(
    "change, error",
    [
        ({"purpose": "no-such-purpose"}, NotFound),
        ({"notice_sha256": "0" * 64}, InvalidInput),
        ({"target": "no-such-house"}, NotFound),
        ({"target": None}, InvalidInput),
        (
            {"purpose": "cluster-marketing", "notice_sha256": sha("cluster-marketing"), "target": "schouwburg-noord"},
            InvalidInput,
        ),
        (
            {"purpose": "audience-research", "notice_sha256": sha("audience-research"), "target": "some-company"},
            InvalidInput,
        ),
        ({"given_at": (NOW + dt.timedelta(days=2)).isoformat()}, InvalidInput),
        ({"given_at": "2026-01-01T10:00:00"}, InvalidInput),
        ({"expires_at": (NOW - dt.timedelta(days=2)).isoformat()}, InvalidInput),
        ({"evidence": {"ip_prefix": "203.0.113.7/32"}}, InvalidInput),
        ({"evidence": {"user_agent": "Mozilla\x00"}}, InvalidInput),
        ({"evidence": {"email": "lien.desmet@example.org"}}, InvalidInput),
        ({"channel": "carrier-pigeon"}, InvalidInput),
    ],
)
def test_bad_consent_requests_write_nothing(ready: Hub, person: uuid.UUID, change: dict, error: type) -> None:
    before = (row_count(ready, "consent_events"), row_count(ready, "consent_states"), row_count(ready, "audit_entries"))
    with pytest.raises(error) as info:
        record(ready, person, {**grant(), **change})
    assert "lien.desmet" not in str(info.value.detail)
    assert (
        row_count(ready, "consent_events"),
        row_count(ready, "consent_states"),
        row_count(ready, "audit_entries"),
    ) == before


def test_cluster_and_recipient_targets(ready: Hub, person: uuid.UUID) -> None:
    record(ready, person, grant("cluster-marketing", None))
    record(ready, person, grant("audience-research", "uit-platform"))
    assert states(ready, person) == {
        ("cluster-marketing", "alpha"): "granted",
        ("audience-research", "uit-platform"): "granted",
    }


def test_consent_history_is_append_only(ready: Hub, person: uuid.UUID) -> None:
    record(ready, person, grant())
    with pytest.raises(sa.exc.DBAPIError):
        ready.sql("UPDATE consent_events SET status = 'refused'")
    with pytest.raises(sa.exc.DBAPIError):
        ready.sql("DELETE FROM consent_events")
    assert ready.sql("SELECT status FROM consent_events")[0][0] == "granted"


def test_evidence_is_sealed_and_shredded_with_the_person(ready: Hub, person: uuid.UUID) -> None:
    ua = "Mozilla/5.0 (X11; Linux x86_64) FictionalBrowser/1.0"
    event, _ = record(ready, person, grant(evidence={"user_agent": ua, "ip_prefix": "203.0.113.0/24"}))
    blob = bytes(ready.sql("SELECT evidence_ct FROM consent_events")[0][0])
    assert ua.encode() not in blob and b"203.0.113" not in blob
    with ready.uow() as uow:
        opened = json.loads(PeopleService(uow).cipher(person).open(blob, "consent_events", "evidence", event.id))
    assert opened == {"user_agent": ua, "ip_prefix": "203.0.113.0/24"}
    with ready.uow() as uow:
        RightsService(uow).erase(ready.actor(), person)
    assert ready.sql("SELECT count(*) FROM person_keys", keystore=True)[0][0] == 0
    with ready.uow() as uow, pytest.raises(Exception):
        PeopleService(uow).cipher(person)
    # the proof that a consent existed stays, without personal data
    assert row_count(ready, "consent_events") == 1


def test_consent_for_an_erased_or_unknown_person_is_refused(ready: Hub, person: uuid.UUID) -> None:
    with pytest.raises(NotFound):
        record(ready, uuid.uuid4(), grant())
    with ready.uow() as uow:
        RightsService(uow).erase(ready.actor(), person)
    with pytest.raises(NotFound):
        record(ready, person, grant())


def test_only_people_writers_record_and_readers_read(ready: Hub, person: uuid.UUID) -> None:
    admin = ready.actor(role=roles.CLUSTER_ADMIN)
    with ready.uow() as uow, pytest.raises(Forbidden):
        ConsentService(uow).record(admin, person, grant())
    with ready.uow() as uow, pytest.raises(Forbidden):
        ConsentService(uow).current(admin, person)


def test_consents_over_http(api, ready: Hub, person: uuid.UUID) -> None:  # type: ignore[no-untyped-def]
    key = auth(ready.issue_key(roles.CLUSTER_SERVICE))
    purposes = api.get("/v1/purposes", headers=key).json()
    assert {p["key"] for p in purposes} >= {"newsletter", "cluster-marketing", "audience-research"}
    notice = api.get("/v1/purposes/newsletter/notices/fr", headers=key).json()
    assert notice["sha256"] == sha("newsletter", "fr") and notice["version"] == 1
    body = {**grant(), "notice_sha256": notice["sha256"], "language": "fr"}
    first = api.post(f"/v1/people/{person}/consents", json=body, headers={**key, "Idempotency-Key": "k-1"})
    assert first.status_code == 201
    again = api.post(f"/v1/people/{person}/consents", json=body, headers={**key, "Idempotency-Key": "k-1"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    current = api.get(f"/v1/people/{person}/consents", headers=key).json()
    assert [(c["purpose"], c["status"], c["oslo_status"]) for c in current] == [("newsletter", "granted", "toegelaten")]
    assert len(api.get(f"/v1/people/{person}/consents/history", headers=key).json()) == 1
    oslo = api.get(f"/v1/people/{person}/consents/oslo", headers=key)
    assert oslo.headers["content-type"].startswith("application/ld+json")
    assert "lien" not in oslo.text.lower()
    bad = api.post(f"/v1/people/{person}/consents", json={**body, "status": "maybe"}, headers=key)
    assert bad.status_code == 422 and bad.json()["error"] == "InvalidInput"
    assert api.get(f"/v1/people/{uuid.uuid4()}/consents", headers=key).status_code == 404
