"""The DPO console (issue 15, point 2) through its HTTP pages, on SQLite and PostgreSQL: signing in
with a DPO's API key (and every refusal alike), sessions that end with the key, CSRF, a house DPO
held to their house (another house's entries, clients and destinations answer like nothing), each
page rendering, and the anomaly rules finding seeded misuse and nothing without it."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from consent_hub import roles
from consent_hub.access.service import AccessService, RelationService
from consent_hub.actors import Actor
from consent_hub.app import create_app
from consent_hub.audit.service import AuditLog
from consent_hub.clients.service import ClientService
from consent_hub.config import DestinationConfig
from consent_hub.consent.service import ConsentService
from consent_hub.oversight.service import OversightService
from consent_hub.people.service import PeopleService
from consent_hub.plugins import report_names
from consent_hub.storage.models import OutboxDelivery
from tests.conftest import Hub
from tests.test_audit_chain import attacker

BUYER = "ward.peeters@example.org"
OTHER = "lotte.maes@example.org"
HOUSE_A, HOUSE_B = "house-a", "house-b"
BASE = "http://127.0.0.1"  # plain HTTP on the loopback host: the cookies are not Secure
ENGLISH = {"accept-language": "en"}


@dataclass
class World:
    hub: Hub
    keys: dict[str, str]
    actors: dict[str, Actor]
    person: uuid.UUID
    other: uuid.UUID


def actor_of(hub: Hub, key: str) -> Actor:
    with hub.uow() as uow:
        return ClientService(uow).authenticate(key)


def build(hub: Hub) -> World:
    with hub.uow() as uow:
        ConsentService(uow).sync_notices(hub.actor())
    hub.add_house(HOUSE_A)
    hub.add_house(HOUSE_B)
    keys = {
        "cluster-dpo": hub.issue_key(roles.CLUSTER_DPO),
        "dpo-a": hub.issue_key(roles.HOUSE_DPO, house=HOUSE_A),
        "dpo-b": hub.issue_key(roles.HOUSE_DPO, house=HOUSE_B),
        "box-a": hub.issue_key(roles.BOX_OFFICE, house=HOUSE_A),
        "box-b": hub.issue_key(roles.BOX_OFFICE, house=HOUSE_B),
        "admin": hub.issue_key(roles.CLUSTER_ADMIN),
    }
    actors = {name: actor_of(hub, key) for name, key in keys.items()}
    with hub.uow() as uow:
        people = PeopleService(uow)
        person = people.create(hub.actor(), {"email": BUYER, "given_name": "Ward"})
        other = people.create(hub.actor(), {"email": OTHER, "given_name": "Lotte"})
        RelationService(uow).touch(hub.actor(), person, HOUSE_A, "customer", reason="data-migration")
        RelationService(uow).touch(hub.actor(), other, HOUSE_B, "customer", reason="data-migration")
    with hub.uow() as uow:
        AccessService(uow).lookup_by_email(actors["box-a"], BUYER, purpose="ticketing-service")
        AccessService(uow).lookup_by_email(actors["box-b"], OTHER, purpose="ticketing-service")
    return World(hub, keys, actors, person, other)


@pytest.fixture
def world(hub: Hub) -> World:
    return build(hub)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.hub.settings, world.hub.registry), base_url=BASE, headers=ENGLISH) as c:
        yield c


def csrf_in(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client: TestClient, key: str, cluster: str = "alpha") -> Any:
    csrf = csrf_in(client.get(f"/dpo/{cluster}/").text)
    return client.post(f"/dpo/{cluster}/sign-in", data={"api_key": key, "csrf": csrf}, follow_redirects=False)


def search(http: TestClient, **fields: Any) -> Any:
    csrf = csrf_in(http.get("/dpo/alpha/audit").text)
    return http.post("/dpo/alpha/audit", data={"csrf": csrf, **fields})


def result_rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return re.findall(r"<tr>.*?</tr>", body, flags=re.S)


# -- signing in -------------------------------------------------------------------------------------
def test_a_dpo_signs_in_with_their_key_and_out_again(world: World, client: TestClient) -> None:
    answer = sign_in(client, world.keys["cluster-dpo"])
    assert answer.status_code == 303 and answer.headers["location"] == "/dpo/alpha/audit"
    cookie = answer.headers["set-cookie"]
    assert "consent_hub_dpo_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Path=/dpo/alpha" in cookie
    assert world.keys["cluster-dpo"] not in cookie
    page = client.get("/dpo/alpha/audit")
    assert page.status_code == 200 and "test cluster-dpo" in page.text
    assert world.keys["cluster-dpo"] not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["x-frame-options"] == "DENY"
    out = client.post("/dpo/alpha/sign-out", data={"csrf": csrf_in(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/dpo/alpha/audit", follow_redirects=False).headers["location"] == "/dpo/alpha/"
    with world.hub.uow() as uow:
        actions = [e.action for e in AuditLog(uow.session, "alpha").read_entries(Actor.cli("alpha"), limit=10)]
    assert "dpo.sign-in" in actions and "dpo.sign-out" in actions


def test_the_session_cookie_is_secure_off_the_loopback_host(world: World) -> None:
    with TestClient(create_app(world.hub.settings, world.hub.registry), base_url="https://dpo.example.org") as c:
        answer = sign_in(c, world.keys["cluster-dpo"])
    assert "Secure" in answer.headers["set-cookie"]


@pytest.mark.parametrize("which", ["box-a", "admin", "unknown", "malformed", "revoked", "expired", "other-cluster"])
def test_every_refused_key_gets_the_same_answer(world: World, client: TestClient, which: str) -> None:
    hub = world.hub
    if which == "unknown":
        key = world.keys["cluster-dpo"][:-6] + "AAAAAA"
    elif which == "malformed":
        key = "not a key at all"
    elif which == "revoked":
        key = hub.issue_key(roles.CLUSTER_DPO)
        with hub.uow() as uow:
            ClientService(uow).revoke(hub.actor(), uuid.UUID(actor_of(hub, key).id.removeprefix("client:")))
    elif which == "expired":
        key = hub.issue_key(roles.CLUSTER_DPO)
        hub.sql("UPDATE api_clients SET expires_at = :at", at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    elif which == "other-cluster":
        key = hub.issue_key(roles.CLUSTER_DPO, cluster="beta")
    else:
        key = world.keys[which]
    answer = sign_in(client, key)
    assert answer.status_code == 401
    assert "This key does not sign in here" in answer.text
    assert "set-cookie" not in answer.headers or "consent_hub_dpo_session" not in answer.headers["set-cookie"]
    assert key not in answer.text
    with hub.uow() as uow:
        entries = AuditLog(uow.session, "alpha").read_entries(Actor.cli("alpha"), limit=5)
    refused = [e for e in entries if e.action == "dpo.sign-in.refused"]
    assert refused and key not in refused[0].detail


def test_refused_sign_ins_are_limited_per_network(world: World, client: TestClient) -> None:
    for _ in range(10):
        assert sign_in(client, "chk_alpha_nope_" + "x" * 40).status_code == 401
    limited = sign_in(client, world.keys["cluster-dpo"])
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0


def test_a_session_ends_when_its_key_is_revoked(world: World, client: TestClient) -> None:
    hub = world.hub
    key = hub.issue_key(roles.HOUSE_DPO, house=HOUSE_A)
    assert sign_in(client, key).status_code == 303
    assert client.get("/dpo/alpha/clients").status_code == 200
    with hub.uow() as uow:
        ClientService(uow).revoke(hub.actor(), uuid.UUID(actor_of(hub, key).id.removeprefix("client:")))
    gone = client.get("/dpo/alpha/clients", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/dpo/alpha/"


def test_a_session_ends_when_idle_or_too_old(world: World, client: TestClient) -> None:
    assert sign_in(client, world.keys["cluster-dpo"]).status_code == 303
    world.hub.sql("UPDATE dpo_sessions SET last_seen_at = :at", at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    assert client.get("/dpo/alpha/audit", follow_redirects=False).status_code == 303
    assert sign_in(client, world.keys["cluster-dpo"]).status_code == 303
    world.hub.sql("UPDATE dpo_sessions SET created_at = :at", at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=9))
    assert client.get("/dpo/alpha/audit", follow_redirects=False).status_code == 303


def test_a_form_without_its_csrf_token_is_refused(world: World, client: TestClient) -> None:
    csrf = csrf_in(client.get("/dpo/alpha/").text)
    forged = client.post("/dpo/alpha/sign-in", data={"api_key": world.keys["cluster-dpo"], "csrf": "x"})
    assert forged.status_code == 403
    assert sign_in(client, world.keys["cluster-dpo"]).status_code == 303
    assert client.post("/dpo/alpha/audit", data={"csrf": csrf, "email": BUYER}).status_code == 403
    assert client.post("/dpo/alpha/audit", data={"email": BUYER}).status_code == 403
    other_site = client.post(
        "/dpo/alpha/audit",
        data={"csrf": csrf_in(client.get("/dpo/alpha/audit").text), "email": BUYER},
        headers={"sec-fetch-site": "cross-site"},
    )
    assert other_site.status_code == 403


# -- the audit search -----------------------------------------------------------------------------------
def test_the_cluster_dpo_finds_every_access_to_a_person_by_e_mail(world: World, client: TestClient) -> None:
    sign_in(client, world.keys["cluster-dpo"])
    page = search(client, email=BUYER.upper())
    assert page.status_code == 200
    rows = result_rows(page.text)
    assert rows and all(BUYER not in row for row in rows)
    assert any("people.read" in row and "test box-office" in row and HOUSE_A in row for row in rows)
    by_id = result_rows(search(client, person=str(world.person)).text)
    # the same entries, and the first search's own entry (it named the person)
    assert len(by_id) == len(rows) + 1 and "audit.search" in by_id[0]
    # the address was a POST body: it is in no URL, and the search's own entry names the person only
    with world.hub.uow() as uow:
        entry = next(e for e in AuditLog(uow.session, "alpha").read_entries(Actor.cli("alpha"), limit=5)
                     if e.action == "audit.search")
    assert BUYER not in entry.detail and str(world.person) in entry.subjects


def test_an_unknown_address_looks_like_an_invisible_one(world: World, client: TestClient) -> None:
    sign_in(client, world.keys["dpo-a"])
    unknown = search(client, email="nobody.here@example.org")
    invisible = search(client, email=OTHER)  # a person of house B only
    assert unknown.status_code == invisible.status_code == 200
    assert result_rows(unknown.text) == result_rows(invisible.text) == []
    assert "No entry matches." in unknown.text and "No entry matches." in invisible.text


def test_a_bad_search_shows_the_error_next_to_its_field(world: World, client: TestClient) -> None:
    sign_in(client, world.keys["cluster-dpo"])
    page = search(client, email="not-an-address", start="yesterday")
    assert page.status_code == 422
    assert 'id="email-error"' in page.text and 'id="start-error"' in page.text
    assert 'aria-invalid="true"' in page.text


def test_the_search_pages_with_the_cursor(world: World, client: TestClient) -> None:
    with world.hub.uow() as uow:
        for _ in range(60):
            AccessService(uow).get(world.actors["box-a"], world.person, purpose="ticketing-service")
    sign_in(client, world.keys["cluster-dpo"])
    first = search(client, action="people.read")
    assert len(result_rows(first.text)) == 50
    older = re.search(r'name="before" value="(\d+)"', first.text)
    assert older
    second = search(client, action="people.read", before=older.group(1))
    assert 1 <= len(result_rows(second.text)) <= 12
    assert 'name="before"' not in second.text


def test_a_house_dpo_sees_their_house_only(world: World, client: TestClient) -> None:
    sign_in(client, world.keys["dpo-a"])
    everything = result_rows(search(client).text)
    assert everything and all(HOUSE_B not in row for row in everything)
    # another house's entries answer exactly like a house that does not exist
    other = search(client, house=HOUSE_B)
    missing = search(client, house="no-such-house")
    assert result_rows(other.text) == result_rows(missing.text) == []
    # another house's client, the same as a client that does not exist
    box_b = world.actors["box-b"].id
    assert result_rows(search(client, client=box_b).text) == []
    assert result_rows(search(client, client=f"client:{uuid.uuid4()}").text) == []
    # clients and destinations of the house only
    clients = client.get("/dpo/alpha/clients").text
    assert "test box-office" in clients and box_b not in clients and world.actors["box-a"].id in clients


# -- the other pages --------------------------------------------------------------------------------------
def test_the_chain_page_verifies_and_exports_the_last_checkpoint(world: World, client: TestClient) -> None:
    hub = world.hub
    sign_in(client, world.keys["cluster-dpo"])
    page = client.get("/dpo/alpha/chain")
    assert page.status_code == 200 and "No checkpoint has been signed yet." in page.text
    with hub.uow() as uow:
        AuditLog(uow.session, "alpha").checkpoint(Actor.cli("alpha"), uow.rt.keys)
    verified = client.post("/dpo/alpha/chain/verify", data={"csrf": csrf_in(page.text)})
    assert verified.status_code == 200 and "The chain is intact" in verified.text
    export = client.get("/dpo/alpha/chain/checkpoint.txt")
    assert export.status_code == 200 and export.text.startswith("consent-hub-audit/alpha\n")
    assert "attachment" in export.headers["content-disposition"]
    # an entry edited by someone with owner rights: the page names the first bad one
    with attacker(hub) as conn:
        conn.execute(text("UPDATE audit_entries SET purpose = 'edited' WHERE seq = 2"))
    broken = client.post("/dpo/alpha/chain/verify", data={"csrf": csrf_in(page.text)})
    assert "The chain is broken" in broken.text and "number 2" in broken.text


def test_the_delivery_page_shows_each_destination_of_the_dpo(world: World, client: TestClient) -> None:
    cluster = world.hub.settings.clusters["alpha"]
    cluster.destinations = {
        "crm-a": DestinationConfig(kind="webhook", base_url="http://127.0.0.1:9", house=HOUSE_A),
        "crm-b": DestinationConfig(kind="webhook", base_url="http://127.0.0.1:9", house=HOUSE_B),
    }
    sign_in(client, world.keys["cluster-dpo"])
    page = client.get("/dpo/alpha/deliveries").text
    assert "crm-a" in page and "crm-b" in page
    client.cookies.clear()
    sign_in(client, world.keys["dpo-a"])
    page = client.get("/dpo/alpha/deliveries").text
    assert "crm-a" in page and "crm-b" not in page


def test_the_delivery_page_counts_waiting_dead_and_the_last_receipt(world: World, client: TestClient) -> None:
    hub = world.hub
    hub.settings.clusters["alpha"].destinations = {
        "crm-a": DestinationConfig(kind="webhook", base_url="http://127.0.0.1:9", house=HOUSE_A),
    }
    now = dt.datetime.now(dt.UTC)
    rows = [
        ("pending", None, None),
        ("pending", None, None),
        ("dead", None, None),
        ("delivered", now - dt.timedelta(hours=2), '{"receipt": "older-one"}'),
        ("delivered", now - dt.timedelta(minutes=5), '{"receipt": "wh-4711"}'),
    ]
    with hub.uow() as uow:
        for status, delivered_at, receipt in rows:
            uow.session.add(
                OutboxDelivery(
                    id=uuid.uuid4(),
                    destination="crm-a",
                    person_id=world.person,
                    kind="upsert",
                    cause="test",
                    payload="{}",
                    status=status,
                    attempts=1,
                    created_at=now,
                    next_attempt_at=now,
                    delivered_at=delivered_at,
                    receipt=receipt,
                )
            )
    sign_in(client, world.keys["dpo-a"])
    page = client.get("/dpo/alpha/deliveries").text
    row = re.search(r"<tr class=\"flagged\">(.*?)</tr>", page, flags=re.S)  # a dead letter flags the row
    assert row
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", row.group(1), flags=re.S)]
    assert cells[3:6] == ["2", "1", "2"]  # waiting, dead letters, delivered
    assert "wh-4711" in cells[7] and "older-one" not in page


def test_the_clients_page_marks_keys_that_expire_soon(world: World, client: TestClient) -> None:
    world.hub.issue_key(roles.ANALYST, house=HOUSE_A, expires=dt.date.today() + dt.timedelta(days=90))
    sign_in(client, world.keys["cluster-dpo"])
    page = client.get("/dpo/alpha/clients").text
    assert "TEST-DPA" in page
    assert page.count("expires within 30 days") == len(world.keys)  # the test keys live 30 days, the analyst's 90
    assert "test analyst" in page


@pytest.mark.parametrize("path", ["/audit", "/chain", "/deliveries", "/clients", "/anomalies", "/reports"])
@pytest.mark.parametrize("language", ["nl", "en", "fr"])
def test_each_page_renders_in_each_language(world: World, client: TestClient, path: str, language: str) -> None:
    sign_in(client, world.keys["cluster-dpo"])
    page = client.get(f"/dpo/alpha{path}?lang={language}")
    assert page.status_code == 200
    assert f'<html lang="{language}">' in page.text
    assert BUYER not in page.text


def test_an_unknown_cluster_or_page_is_an_html_404(world: World, client: TestClient) -> None:
    assert client.get("/dpo/nowhere/").status_code == 404
    sign_in(client, world.keys["cluster-dpo"])
    missing = client.get("/dpo/alpha/no-such-page")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")


def test_report_downloads(world: World, client: TestClient) -> None:
    if not report_names():
        pytest.skip("no report is installed yet (the reports entry points arrive with branch i15-reports)")
    import io

    import openpyxl

    sign_in(client, world.keys["dpo-a"])
    page = client.get("/dpo/alpha/reports")
    assert all(f'action="/dpo/alpha/reports/{name}"' in page.text for name in report_names())
    for name in report_names():
        # a house DPO asking for another house's report gets their own house's
        answer = client.post(f"/dpo/alpha/reports/{name}", data={"csrf": csrf_in(page.text), "house": HOUSE_B})
        assert answer.status_code == 200, name
        assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
        assert f'filename="alpha-{name}.xlsx"' in answer.headers["content-disposition"]
        book = openpyxl.load_workbook(io.BytesIO(answer.content), read_only=True)
        if name == "access-log":
            cells = [str(c) for sheet in book for row in sheet.iter_rows(values_only=True) for c in row if c]
            assert HOUSE_A in cells and HOUSE_B not in cells
    bad = client.post("/dpo/alpha/reports/access-log", data={"csrf": csrf_in(page.text), "start": "31-12-2026"})
    assert bad.status_code == 422 and 'id="access-log-start-error"' in bad.text
    assert client.post("/dpo/alpha/reports/no-such", data={"csrf": csrf_in(page.text)}).status_code == 404


# -- anomalies ---------------------------------------------------------------------------------------------
def _seed_misuse(world: World) -> None:
    """box-a reads 60 profiles (its peer box-b reads one), at night; exports are left to the service
    test below; box-b guesses 25 addresses in a few minutes."""
    hub = world.hub
    with hub.uow() as uow:
        people = PeopleService(uow)
        ids = [people.create(hub.actor(), {"email": f"koper.{n}@example.org"}) for n in range(60)]
        for pid in ids:
            RelationService(uow).touch(hub.actor(), pid, HOUSE_A, "customer", reason="data-migration")
    with hub.uow() as uow:
        for pid in ids:
            AccessService(uow).get(world.actors["box-a"], pid, purpose="ticketing-service")
        guesser = AccessService(uow)
        for n in range(25):
            guesser.lookup_by_email(world.actors["box-b"], f"raden.{n}@example.org", purpose="ticketing-service")


def test_anomalies_are_found_in_seeded_misuse_and_not_without(world: World, client: TestClient) -> None:
    hub = world.hub
    rules = hub.settings.clusters["alpha"].anomalies
    rules.house_hours = "00:00-00:01"  # every read of the test is "outside the hours"
    with hub.uow() as uow:
        quiet = OversightService(uow).anomalies(world.actors["cluster-dpo"])
    found = {r.rule: r.findings for r in quiet.rules}
    assert found["peer-reads"] == [] and found["miss-burst"] == [] and found["export-size"] == []
    rules.house_hours = "00:00-23:59"
    with hub.uow() as uow:
        assert OversightService(uow).anomalies(world.actors["cluster-dpo"]).found == 0
    _seed_misuse(world)
    with hub.uow() as uow:
        seen = OversightService(uow).anomalies(world.actors["cluster-dpo"])
    found = {r.rule: r.findings for r in seen.rules}
    assert [(f.actor, f.count) for f in found["peer-reads"]] == [(world.actors["box-a"].id, 61)]
    assert [(f.actor, f.count) for f in found["miss-burst"]] == [(world.actors["box-b"].id, 25)]
    rules.house_hours = "00:00-00:01"
    sign_in(client, world.keys["dpo-a"])
    page = client.get("/dpo/alpha/anomalies").text
    assert "more than 5.0 times the median" in page and "at least 50 profiles" in page
    assert world.actors["box-a"].id in page
    assert world.actors["box-b"].id not in page  # house B's burst is not house A's DPO's business


def test_an_export_of_unusual_size_is_found(world: World) -> None:
    from consent_hub.audit.service import AuditRecord

    hub = world.hub
    box = world.actors["box-a"]
    with hub.uow() as uow:
        log = AuditLog(uow.session, "alpha")
        for size in (10, 12, 11, 600):
            log.append(box, AuditRecord("audience.export", [uuid.uuid4() for _ in range(size)], ["email"]))
    with hub.uow() as uow:
        found = {r.rule: r.findings for r in OversightService(uow).anomalies(world.actors["cluster-dpo"]).rules}
    assert [(f.count, f.median) for f in found["export-size"]] == [(600, 11.0)]


# -- data-subject requests ------------------------------------------------------------------------------
@pytest.fixture
def desk_world(hub: Hub) -> Iterator[World]:
    from fakes.mailcatcher import MailCatcher
    from tests.buyer_world import configure

    with MailCatcher() as catcher:
        configure(hub, catcher)
        yield build(hub)


@pytest.fixture
def desk_client(desk_world: World) -> Iterator[TestClient]:
    with TestClient(create_app(desk_world.hub.settings, desk_world.hub.registry), base_url=BASE, headers=ENGLISH) as c:
        yield c


def register(http: TestClient, **fields: str) -> Any:
    csrf = csrf_in(http.get("/dpo/alpha/requests/new").text)
    return http.post("/dpo/alpha/requests/new", data={"csrf": csrf, **fields}, follow_redirects=False)


def step(http: TestClient, reference: str, name: str, **fields: Any) -> Any:
    csrf = csrf_in(http.get(f"/dpo/alpha/requests/{reference}").text)
    return http.post(f"/dpo/alpha/requests/{reference}/{name}", data={"csrf": csrf, **fields}, follow_redirects=False)


def status_on(http: TestClient, reference: str) -> str:
    match = re.search(r'<dd id="status">([^<]*)</dd>', http.get(f"/dpo/alpha/requests/{reference}").text)
    assert match
    return match.group(1)


def test_an_erasure_received_by_mail_is_handled_to_done(desk_world: World, desk_client: TestClient) -> None:
    http = desk_client
    sign_in(http, desk_world.keys["cluster-dpo"])
    answer = register(http, kind="erasure", channel="mail", email=BUYER, language="en")
    assert answer.status_code == 303, answer.text
    reference = answer.headers["location"].rsplit("/", 1)[1]
    assert re.fullmatch(r"DSR-[A-Z0-9]{4}-[A-Z0-9]{4}", reference) and BUYER not in answer.headers["location"]
    queue = http.get("/dpo/alpha/requests").text
    assert reference in queue and "All open requests" in queue
    assert step(http, reference, "verify", note="identity card seen at the counter").status_code == 303
    assert step(http, reference, "start").status_code == 303
    assert step(http, reference, "execute").status_code == 303
    assert status_on(http, reference) == "waiting for a house"
    # the house's own DPO signs off their part; then the request is done
    http.cookies.clear()
    sign_in(http, desk_world.keys["dpo-a"])
    assert step(http, reference, "sign-off", note="checked at the box office").status_code == 303
    page = http.get(f"/dpo/alpha/requests/{reference}").text
    assert status_on(http, reference) == "done"
    assert "signed-off" in page and "executed" in page and BUYER not in page


def test_request_forms_show_errors_next_to_their_fields(desk_world: World, desk_client: TestClient) -> None:
    http = desk_client
    sign_in(http, desk_world.keys["cluster-dpo"])
    missing = register(http, channel="mail", email="nobody.known@example.org")
    assert missing.status_code == 422 and 'id="kind-error"' in missing.text
    unknown = register(http, kind="access", channel="mail", email="nobody.known@example.org")
    assert unknown.status_code == 422 and 'id="email-error"' in unknown.text
    assert "nobody.known@example.org" not in unknown.text.split('id="email"')[0]
    reference = register(http, kind="access", channel="box-office", email=BUYER).headers["location"].rsplit("/", 1)[1]
    refused = step(http, reference, "refuse", note="")
    assert refused.status_code == 422 and 'id="refuse-reason-error"' in refused.text
    assert "Data Protection Authority" in refused.text
    early = step(http, reference, "start")
    assert early.status_code == 409 and "current state" in early.text
    assert step(http, reference, "extend", months=2, note="the houses need the box-office archive").status_code == 303
    assert "extended" in http.get(f"/dpo/alpha/requests/{reference}").text
    assert step(http, reference, "refuse", note="the person withdrew it by phone").status_code == 303
    assert status_on(http, reference) == "refused, with the reason"


def test_another_houses_request_answers_like_none(desk_world: World, desk_client: TestClient) -> None:
    http = desk_client
    sign_in(http, desk_world.keys["cluster-dpo"])
    reference = register(http, kind="access", channel="mail", email=BUYER).headers["location"].rsplit("/", 1)[1]
    http.cookies.clear()
    sign_in(http, desk_world.keys["dpo-b"])  # the buyer is house A's only
    theirs = http.get(f"/dpo/alpha/requests/{reference}")
    nobody = http.get("/dpo/alpha/requests/DSR-AAAA-AAAA")
    assert theirs.status_code == nobody.status_code == 404
    assert theirs.text.replace(reference, "X") == nobody.text.replace("DSR-AAAA-AAAA", "X")
    assert reference not in http.get("/dpo/alpha/requests").text
    assert step(http, reference, "sign-off").status_code == 404
    assert step(http, "DSR-AAAA-AAAA", "sign-off").status_code == 404


def test_the_key_and_the_address_reach_no_log_line(
    world: World, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    sign_in(client, world.keys["box-a"])  # refused
    sign_in(client, world.keys["cluster-dpo"])
    search(client, email=BUYER)
    search(client, email="not-an-address")
    text = "\n".join(f"{r.getMessage()} {r.args}" for r in caplog.records)
    for secret in (world.keys["box-a"], world.keys["cluster-dpo"], BUYER, "not-an-address"):
        assert secret not in text


def test_a_house_dpo_registering_learns_nothing_of_other_houses(desk_world: World, desk_client: TestClient) -> None:
    http = desk_client
    sign_in(http, desk_world.keys["dpo-b"])
    not_theirs = register(http, kind="access", channel="mail", email=BUYER)  # house A's buyer
    unknown = register(http, kind="access", channel="mail", email="nobody.known@example.org")
    assert not_theirs.status_code == unknown.status_code == 202
    assert not_theirs.text == unknown.text and "Request received" in unknown.text
    assert BUYER not in not_theirs.text
    # the request exists all the same, for house A and the cluster DPO
    http.cookies.clear()
    sign_in(http, desk_world.keys["dpo-a"])
    assert "DSR-" in http.get("/dpo/alpha/requests").text


def test_reads_outside_a_houses_own_hours_on_the_clusters_calendar(world: World) -> None:
    from zoneinfo import ZoneInfo

    from consent_hub.oversight.service import within

    hub = world.hub
    cluster = hub.settings.clusters["alpha"]
    cluster.time_zone = "Pacific/Auckland"  # far from UTC: the hours are the cluster's, not the server's
    local = dt.datetime.now(ZoneInfo("Pacific/Auckland"))
    closed_from, closed_to = local + dt.timedelta(hours=1), local + dt.timedelta(hours=2)
    cluster.anomalies.house_hours = "00:00-23:59"
    cluster.anomalies.hours_per_house = {HOUSE_A: f"{closed_from:%H:%M}-{closed_to:%H:%M}"}
    with hub.uow() as uow:
        results = {r.rule: r for r in OversightService(uow).anomalies(world.actors["cluster-dpo"]).rules}
    off = results["off-hours"]
    assert [(f.actor, f.house) for f in off.findings] == [(world.actors["box-a"].id, HOUSE_A)]
    assert off.thresholds[HOUSE_A] == cluster.anomalies.hours_per_house[HOUSE_A]
    assert off.thresholds["time_zone"] == "Pacific/Auckland"
    # hours that run past midnight
    assert within((dt.time(18), dt.time(2)), dt.time(23, 30)) and within((dt.time(18), dt.time(2)), dt.time(1))
    assert not within((dt.time(18), dt.time(2)), dt.time(12))
