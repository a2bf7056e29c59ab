"""After an erasure nothing in the cluster database opens or can be tested against (issue 11,
point 5), on SQLite and PostgreSQL.

A buyer imported from the fake Tixly engine (profile, opt-ins with sealed evidence, ticket lines,
a skipped record), subscribed in a Mailchimp-shaped CRM, exported in an audience snapshot, is
erased. A copy of the key store (their wrapped data key) and of the keyring is kept from before.
Once the CRM acknowledged the permanent delete, a generic scan over every table and column of the
cluster database, found by reflection so that a table added later is scanned too, finds nothing
that the old data key opens, nor any unkeyed digest of the address (MD5, SHA-1, SHA-256, hex or
raw), the address itself or an engine id of the person. The suppression entry stays: a keyed
blind index, which no candidate address can be tested against without the blind-index key.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import MetaData, select

from connectors.sources import tixly
from connectors.sources.base import RetryPolicy
from consent_hub import roles
from consent_hub.actors import Actor
from consent_hub.audiences.service import AudienceService
from consent_hub.config import ConnectorConfig
from consent_hub.consent.service import ConsentService
from consent_hub.crypto.fields import field_aad
from consent_hub.crypto.key_providers import ClusterKeys, LocalKeyProvider
from consent_hub.houses.service import HouseService
from consent_hub.outbox.delivery import OutboxWorker
from consent_hub.people.fields import PERSON_FIELDS, email_index_form
from consent_hub.people.service import PeopleService
from consent_hub.rights.service import RightsService
from fakes import mailchimp as fake_crm
from fakes import tixly as fake_tixly
from fakes.server import RunningServer, serve_in_thread
from tests.conftest import Hub
from tests.factories import add_newsletter_audience, notice_sha256

TOKEN = "tixly-test-token"
HOUSES = {"1001": "schouwburg-leie", "1002": "concertzaal-ijzer", "1003": "theater-vlasmarkt", "1004": "cc-de-brug"}
FAST = RetryPolicy(max_attempts=8, base=0.01, cap=0.05)
CRM_KEY = fake_crm.DEFAULT_API_KEY


# -- the scan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    email: str
    engine_ids: frozenset[str]
    data_key: bytes
    event_ids: frozenset[uuid.UUID]


def _forms(email: str) -> set[str]:
    return {email, email.lower(), email.strip().lower(), email_index_form(email)}


def _digests(email: str) -> tuple[set[str], set[bytes]]:
    hexes: set[str] = set()
    raws: set[bytes] = set()
    for form in _forms(email):
        for name in ("md5", "sha1", "sha256"):
            digest = hashlib.new(name, form.encode("utf-8"))
            hexes.add(digest.hexdigest())
            raws.add(digest.digest())
    return hexes, raws


def _uuid_of(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str) and len(value) in (32, 36):
        try:
            return uuid.UUID(value)
        except ValueError:
            return None
    return None


def scan(hub: Hub, person: Person, cluster: str = "alpha") -> set[tuple[str, str, str]]:
    """(table, column, what) of every value in the cluster database that the person's old data
    key opens, or that holds the address, an unkeyed digest of it or one of their engine ids."""
    engine = hub.registry.runtime(cluster).engine
    metadata = MetaData()
    metadata.reflect(bind=engine)
    hexes, raws = _digests(person.email)
    emails = {f.lower() for f in _forms(person.email)}
    # an engine id as a token of its own: "100023", "tixly:100023:4", "\"100023\"" (never the
    # microseconds of a timestamp, ".100023")
    tokens = [re.compile(rf"(?<![0-9A-Za-z.]){re.escape(x)}(?![0-9A-Za-z.])") for x in person.engine_ids]
    aead = AESGCM(person.data_key)
    # where the person's ciphertexts were written (profile fields, consent evidence)
    home = [("people", name, person.id) for name in PERSON_FIELDS]
    home += [("consent_events", "evidence", event_id) for event_id in person.event_ids]
    found: set[tuple[str, str, str]] = set()
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            columns = [c.name for c in table.columns]
            for row in conn.execute(select(table)):
                values = dict(zip(columns, row, strict=True))
                row_ids = [u for v in values.values() if (u := _uuid_of(v)) is not None]
                for column, value in values.items():
                    if isinstance(value, memoryview):
                        value = value.tobytes()
                    if isinstance(value, bytes):
                        # a field ciphertext wherever it lies: its own place, or the place it was sealed for
                        if len(value) >= 29 and value[0] == 1:
                            stems = {column, column.removesuffix("_ct")}
                            places = [(table.name, s, r) for s in stems for r in row_ids] + home
                            for t, c, r in places:
                                try:
                                    aead.decrypt(value[1:13], value[13:], field_aad(cluster, t, c, r))
                                except InvalidTag:
                                    continue
                                found.add((table.name, column, "opens with the old data key"))
                                break
                        if any(raw in value for raw in raws):
                            found.add((table.name, column, "raw digest of the address"))
                        text = value.decode("latin-1").lower()
                    elif isinstance(value, str | int) and not isinstance(value, bool):
                        text = str(value).lower()
                    else:
                        continue
                    if any(h in text for h in hexes):
                        found.add((table.name, column, "hex digest of the address"))
                    if any(e in text for e in emails):
                        found.add((table.name, column, "the address"))
                    if any(t.search(str(value) if not isinstance(value, bytes) else text) for t in tokens):
                        found.add((table.name, column, "an engine id of the person"))
    return found


# -- the town ------------------------------------------------------------------------------------


@pytest.fixture
def engine() -> Iterator[RunningServer]:
    world = fake_tixly.build_world(seed=7, size="test")
    with serve_in_thread(fake_tixly.create_app(world, token=TOKEN)) as server:
        yield server


@pytest.fixture
def crm() -> Iterator[RunningServer]:
    state = fake_crm.MailchimpState(lists=[f"list-{slug}" for slug in HOUSES.values()])
    with serve_in_thread(fake_crm.create_app(state)) as server:
        yield server


def tixly_faults(engine: RunningServer, body: dict[str, Any]) -> None:
    httpx.post(f"{engine.url}/_fake/faults", json=body, headers={"Authorization": f"Bearer {TOKEN}"}).raise_for_status()


def crm_faults(crm: RunningServer, body: dict[str, Any]) -> None:
    httpx.post(f"{crm.url}/_fake/faults", json=body, auth=("test", CRM_KEY)).raise_for_status()


def sync(hub: Hub, engine: RunningServer, **overrides: Any) -> None:
    cfg = ConnectorConfig(kind="tixly", base_url=f"{engine.url}/v3", token=TOKEN, page_size=25, **overrides)
    assert tixly.sync(hub.registry, "alpha", "tixly", cfg, policy=FAST).status == "succeeded"


def deliver_all(hub: Hub) -> None:
    worker = OutboxWorker(hub.registry, "alpha")
    try:
        for _ in range(20):
            report = worker.run_once()
            if not (report.delivered or report.retried or report.superseded or report.dead):
                return
    finally:
        worker.close()


def with_crms(hub: Hub, crm: RunningServer, max_attempts: int = 8) -> None:
    """One Mailchimp-shaped newsletter audience per house."""
    with hub.uow() as uow:
        ConsentService(uow).sync_notices(hub.actor())
        for org, slug in HOUSES.items():
            HouseService(uow).add(hub.actor(), {"slug": slug, "name": slug.title(), "tixly_organisation_id": org})
    for slug in HOUSES.values():
        add_newsletter_audience(
            hub,
            f"crm-{slug}",
            house=slug,
            base_url=f"{crm.url}/3.0",
            list_id=f"list-{slug}",
            api_key=CRM_KEY,
            max_attempts=max_attempts,
            no_backoff=True,
            timeout_seconds=2,
        )


def key_store_copy(hub: Hub, person_id: uuid.UUID) -> tuple[bytes, int]:
    """The person's wrapped data key as a key-store backup holds it."""
    p = person_id.hex if hub.backend == "sqlite" else str(person_id)
    ((wrapped, version),) = hub.sql(
        "SELECT wrapped_key, kek_version FROM person_keys WHERE person_id = :p", keystore=True, p=p
    )
    return bytes(wrapped), int(version)


def keyring_copy(hub: Hub) -> LocalKeyProvider:
    """The keyring as a backup of it holds it (a copy of the file, read back)."""
    backup = hub.dir / "keyring-backup.json"
    shutil.copy2(hub.dir / "keys" / "alpha.json", backup)
    text = backup.read_text(encoding="utf-8")
    return LocalKeyProvider(ClusterKeys.parse(text, expected_cluster="alpha", source="backup"))


def the_person(hub: Hub, person_id: uuid.UUID, data_key: bytes) -> Person:
    p = person_id.hex if hub.backend == "sqlite" else str(person_id)
    with hub.uow() as uow:
        (view,) = PeopleService(uow).read(hub.actor(), [person_id], purpose="ticketing-service", fields=["email"])
    engine_ids = {str(x) for (x,) in hub.sql("SELECT external_id FROM engine_customers WHERE person_id = :p", p=p)}
    events = {uuid.UUID(str(e)) for (e,) in hub.sql("SELECT id FROM consent_events WHERE person_id = :p", p=p)}
    assert view.fields["email"] and engine_ids and events
    return Person(person_id, str(view.fields["email"]), frozenset(engine_ids), data_key, frozenset(events))


def test_after_an_acknowledged_erasure_nothing_opens_or_matches_the_person(
    hub: Hub, engine: RunningServer, crm: RunningServer
) -> None:
    with_crms(hub, crm)
    sync(hub, engine)
    # a buyer with a newsletter opt-in at a house (sealed evidence naming the engine record) and
    # ticket lines there
    (pid_text, house, engine_id), *_ = hub.sql(
        "SELECT s.person_id, s.target_ref, e.external_id FROM consent_states s "
        "JOIN houses h ON h.slug = s.target_ref JOIN engine_customers e ON e.person_id = s.person_id "
        "WHERE s.status = 'granted' AND s.purpose = 'newsletter' "
        "AND EXISTS (SELECT 1 FROM sales WHERE sales.person_id = s.person_id AND sales.house_id = h.id) "
        "ORDER BY e.external_id"
    )
    pid = uuid.UUID(str(pid_text))
    # the engine serves the record broken once: the run reports it by its engine id
    tixly_faults(engine, {"malformed_customers": [int(engine_id)]})
    sync(hub, engine, lookback_seconds=10**9)
    tixly_faults(engine, {})
    assert hub.sql("SELECT count(*) FROM sync_skips WHERE record_ref = :x", x=str(engine_id))[0][0] >= 1
    # the CRM holds them; a marketer exports them in an audited snapshot
    deliver_all(hub)
    with hub.uow() as uow:
        marketer = Actor("test:marketer", "alpha", roles.MARKETER, house)
        export = (
            AudienceService(uow)
            .export(marketer, {"name": "all", "purpose": "newsletter", "filters": {}}, fmt="csv")
            .export
        )
    assert pid in {uuid.UUID(str(p)) for (p,) in hub.sql("SELECT person_id FROM audience_export_members")}
    assert export.member_count >= 1
    # a key-store backup and a keyring backup taken before the erasure
    wrapped, version = key_store_copy(hub, pid)
    person = the_person(hub, pid, keyring_copy(hub).unwrap_data_key(wrapped, pid.bytes, version))
    before = scan(hub, person)
    # the scan does see the person while they exist
    assert ("people", "email_ct", "opens with the old data key") in before
    assert ("consent_events", "evidence_ct", "opens with the old data key") in before
    assert ("engine_customers", "external_id", "an engine id of the person") in before
    assert ("sync_skips", "record_ref", "an engine id of the person") in before

    with hub.uow() as uow:
        assert RightsService(uow).erase(hub.actor(), pid, reference="DSR-2026-0511")
    erases = "SELECT status FROM outbox WHERE kind = 'erase'"
    assert [s for (s,) in hub.sql(erases)] and {s for (s,) in hub.sql(erases)} == {"pending"}
    deliver_all(hub)
    assert {s for (s,) in hub.sql(erases)} == {"delivered"}  # every CRM that held them acknowledged
    for slug in HOUSES.values():
        hash_ = fake_crm.subscriber_hash(person.email)
        response = httpx.get(f"{crm.url}/3.0/lists/list-{slug}/members/{hash_}", auth=("test", CRM_KEY))
        assert response.status_code == 404

    assert scan(hub, person) == set()
    # what stays as proof: the consent skeleton, and the suppression entry (a keyed blind index)
    p = pid.hex if hub.backend == "sqlite" else str(pid)
    assert hub.sql("SELECT count(*) FROM consent_events WHERE person_id = :p", p=p)[0][0] == len(person.event_ids)
    assert hub.sql("SELECT count(*) FROM suppressions")[0][0] >= 1
    assert hub.sql("SELECT count(*) FROM person_keys WHERE person_id = :p", keystore=True, p=p) == [(0,)]
    # the next sync still keeps them out: the suppression list recognises the address
    sync(hub, engine, lookback_seconds=10**9)
    assert hub.sql(
        "SELECT count(*) FROM people WHERE status = 'active' AND email_bidx IN (SELECT email_bidx FROM suppressions)"
    ) == [(0,)]


def test_an_erase_the_crm_has_not_acknowledged_keeps_its_handle_and_nothing_else(hub: Hub, crm: RunningServer) -> None:
    with_crms(hub, crm, max_attempts=3)
    house = HOUSES["1001"]
    with hub.uow() as uow:
        pid = PeopleService(uow).create(hub.actor(), {"email": "Marthe.Claes@example.org", "given_name": "Marthe"})
    notice = notice_sha256()
    for status in ("granted", "withdrawn", "granted"):
        with hub.uow() as uow:
            ConsentService(uow).record(
                hub.actor(),
                pid,
                {
                    "purpose": "newsletter",
                    "target": house,
                    "status": status,
                    "language": "nl",
                    "channel": "web",
                    "notice_sha256": notice,
                    "evidence": {"user_agent": "FictionalBrowser/1.0", "ip_prefix": "203.0.113.0/24"},
                },
                idempotency_key=f"web-{status}-{uuid.uuid4().hex[:8]}",
            )
        deliver_all(hub)
    wrapped, version = key_store_copy(hub, pid)
    events = {uuid.UUID(str(e)) for (e,) in hub.sql("SELECT id FROM consent_events")}
    data_key = keyring_copy(hub).unwrap_data_key(wrapped, pid.bytes, version)
    person = Person(pid, "marthe.claes@example.org", frozenset(), data_key, frozenset(events))
    assert ("consent_events", "evidence_ct", "opens with the old data key") in scan(hub, person)

    crm_faults(crm, {"down": True})
    with hub.uow() as uow:
        assert RightsService(uow).erase(hub.actor(), pid)
    # while the CRM has not acknowledged, its erase keeps the handle it needs (the CRM's member id,
    # the MD5 of the address), and nothing else holds anything of the person
    deliver_all(hub)
    (status, payload), *more = hub.sql("SELECT status, payload FROM outbox WHERE kind = 'erase'")
    assert not more and status == "dead"
    assert json.loads(payload)["handle"] == {"subscriber_hash": fake_crm.subscriber_hash(person.email)}
    assert scan(hub, person) == {("outbox", "payload", "hex digest of the address")}
