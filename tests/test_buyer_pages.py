"""The buyer's pages and what they change (issue 14, points 3 and 5), on SQLite and PostgreSQL:
each privacy rule of the buyer's hub with a test that fails when the rule breaks."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from consent_hub import roles
from consent_hub.access.service import AccessService
from consent_hub.actors import Actor
from consent_hub.app import create_app
from consent_hub.buyer import export
from consent_hub.buyer.service import BuyerService
from consent_hub.clients.service import ClientService
from consent_hub.consent.service import ConsentService
from consent_hub.errors import Forbidden, InvalidInput
from consent_hub.mail.sender import mail_queue
from consent_hub.people.service import PeopleService
from consent_hub.requests.deadlines import one_month_deadline
from consent_hub.rights.service import RightsService
from fakes.mailcatcher import MailCatcher
from tests.buyer_world import BUYER_EMAIL, HOUSE_A, HOUSE_B, BuyerWorld, ask_sign_in, build_world, press_link
from tests.conftest import Hub
from tests.factories import add_newsletter_audience, consent_body, create_person

CLIENT = ("203.0.113.77", 40000)


@pytest.fixture
def world(hub: Hub) -> Iterator[BuyerWorld]:
    with MailCatcher() as catcher:
        yield build_world(hub, catcher)


@pytest.fixture
def client(world: BuyerWorld) -> Iterator[TestClient]:
    app = create_app(world.hub.settings, world.hub.registry)
    headers = {"Accept-Language": "en", "User-Agent": "Mozilla/5.0 (test)"}
    with TestClient(app, raise_server_exceptions=False, headers=headers, client=CLIENT) as c:
        ask_sign_in(c)
        token = world.link_in(world.last_mail())[1]
        assert press_link(c, token, follow_redirects=False).status_code == 303
        yield c


def form(client: TestClient, path: str) -> tuple[str, list[str]]:
    page = client.get(path).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    return csrf.group(1), re.findall(r'name="shown" value="([^"]+)"', page)


def choose(client: TestClient, *choices: str) -> Any:
    csrf, shown = form(client, "/my/alpha/choices")
    return client.post("/my/alpha/choices", data={"csrf": csrf, "shown": shown, "choice": list(choices)})


def buyer(world: BuyerWorld, uow: Any) -> BuyerService:
    return BuyerService(uow, Actor.buyer("alpha", world.person_id))


def states(world: BuyerWorld) -> dict[tuple[str, str], str]:
    rows = world.hub.sql("SELECT purpose, target_ref, status FROM consent_states")
    return {(r[0], r[1]): r[2] for r in rows}


# -- which houses know me --------------------------------------------------------------------------
def test_the_houses_page_says_who_knows_the_buyer_and_through_what(world: BuyerWorld, client: TestClient) -> None:
    page = client.get("/my/alpha/houses").text
    knows, rest = page.split("These houses do not know you")
    assert "House A" in knows and "you bought tickets there" in knows and "House B" in rest
    choose(client, "cluster-marketing|cluster|alpha")
    page = client.get("/my/alpha/houses").text
    assert "Every house of the region knows you." in page  # a cluster-wide consent reaches every house


# -- choices -----------------------------------------------------------------------------------------
def test_a_choice_is_a_web_consent_event_with_the_notice_shown_the_language_and_truncated_evidence(
    world: BuyerWorld, client: TestClient
) -> None:
    add_newsletter_audience(world.hub, "crm-b", house=HOUSE_B)
    assert choose(client, "newsletter|house|house-b").status_code == 200
    (event,) = world.hub.sql("SELECT id, channel, language, notice_sha256, actor, evidence_ct FROM consent_events")
    assert (event[1], event[2], event[4]) == ("web", "en", f"person:{world.person_id}")
    notice = world.hub.sql("SELECT sha256 FROM notices WHERE purpose = 'newsletter' AND language = 'en'")[0][0]
    assert event[3] == notice  # the English notice shown on the page
    with world.hub.uow() as uow:
        sealed = PeopleService(uow).cipher(world.person_id)
        evidence = json.loads(sealed.open(bytes(event[5]), "consent_events", "evidence", uuid.UUID(str(event[0]))))
    assert evidence == {"ip_prefix": "203.0.113.0/24", "user_agent": "Mozilla/5.0 (test)"}
    # reaches the house's CRM through the outbox, like any other change
    assert world.hub.sql("SELECT destination, kind FROM outbox") == [("crm-b", "upsert")]


def test_unticking_withdraws_and_withdraw_all_marketing_keeps_research(world: BuyerWorld, client: TestClient) -> None:
    choose(
        client,
        "newsletter|house|house-a",
        "cluster-marketing|cluster|alpha",
        "audience-research|recipient|uit-platform",
    )
    assert set(states(world).values()) == {"granted"}
    choose(client, "cluster-marketing|cluster|alpha", "audience-research|recipient|uit-platform")
    assert states(world)[("newsletter", HOUSE_A)] == "withdrawn"
    csrf, _ = form(client, "/my/alpha/choices")
    assert "1 change saved." in client.post("/my/alpha/choices/withdraw-marketing", data={"csrf": csrf}).text
    assert states(world) == {
        ("newsletter", HOUSE_A): "withdrawn",
        ("cluster-marketing", "alpha"): "withdrawn",
        ("audience-research", "uit-platform"): "granted",  # research is not marketing
    }


def test_nothing_is_pre_selected(client: TestClient) -> None:
    assert " checked" not in client.get("/my/alpha/choices").text


def test_a_choice_that_is_not_on_the_page_is_refused_and_nothing_changes(world: BuyerWorld, client: TestClient) -> None:
    csrf, shown = form(client, "/my/alpha/choices")
    for bad in (["newsletter|house|no-such-house"], ["ticketing-service|house|house-a"]):
        response = client.post(
            "/my/alpha/choices",
            data={
                "csrf": csrf,
                "shown": [*shown, f"{bad[0]}|{'0' * 64}"],
                "choice": ["newsletter|house|house-a", *bad],
            },
        )
        assert response.status_code == 422 and "Nothing was changed" in response.text
    assert world.hub.sql("SELECT count(*) FROM consent_events")[0][0] == 0


def test_a_buyer_acts_on_their_own_person_only(world: BuyerWorld) -> None:
    other = create_person(world.hub, email="someone.else@example.org")
    me = Actor.buyer("alpha", world.person_id)
    with world.hub.uow() as uow, pytest.raises(Forbidden):
        ConsentService(uow).record(me, other, consent_body(target=HOUSE_A))
    with world.hub.uow() as uow, pytest.raises(InvalidInput):
        ConsentService(uow).record(me, world.person_id, consent_body(target=HOUSE_A, channel="box-office"))
    with world.hub.uow() as uow, pytest.raises(Forbidden):
        PeopleService(uow).read_own(me, other, detail={})
    with world.hub.uow() as uow, pytest.raises(Forbidden):
        RightsService(uow).erase(me, other)
    with world.hub.uow() as uow, pytest.raises(Forbidden):  # the houses' access policy never serves a buyer
        AccessService(uow).get(me, world.person_id, purpose="ticketing-service")
    with world.hub.uow() as uow, pytest.raises(InvalidInput):  # no API key is ever a buyer
        ClientService(uow).add(
            world.hub.actor(), {"name": "x", "role": roles.BUYER, "agreement": "A", "expires": "2030-01-01"}
        )


# -- who accessed my data ----------------------------------------------------------------------------
def test_who_accessed_lists_others_newest_first_in_pages_without_the_buyers_own_visits(
    world: BuyerWorld, client: TestClient
) -> None:
    choose(client, "newsletter|house|house-b")
    marketer = Actor("client:test-marketer", "alpha", roles.MARKETER, HOUSE_B)
    for _ in range(23):
        with world.hub.uow() as uow:
            AccessService(uow).get(marketer, world.person_id, purpose="newsletter")
    first = client.get("/my/alpha/access").text
    rows = re.findall(r"<tr>\s*<td>", first)
    assert len(rows) == 20 and "Older entries" in first
    assert first.count("House B") == 20 and "marketing" in first and "read your details" in first
    assert "the sign-in page" not in first and "read your choices" not in first  # not the buyer's own reads
    older = re.search(r'href="(/my/alpha/access\?before=\d+)"', first)
    assert older
    second = client.get(older.group(1)).text
    assert second.count("House B") == 3  # the rest of the marketer's reads; the operator's entries follow


# -- downloads ---------------------------------------------------------------------------------------
def test_the_json_holds_everything_and_the_art_15_information(world: BuyerWorld, client: TestClient) -> None:
    add_newsletter_audience(world.hub, "crm-b", house=HOUSE_B)
    choose(client, "newsletter|house|house-b")
    data = client.get("/my/alpha/download/my-data.json").json()
    assert data["profile"]["email"] == BUYER_EMAIL and data["profile"]["given_name"] == "Fien"
    assert data["relations"][0]["house"] == HOUSE_A
    assert data["consent_history"][0]["notice_text"].startswith("Yes, I would like")
    assert data["deliveries"][0]["destination"] == "crm-b"
    info = data["information"]
    newsletter = next(p for p in info["purposes"] if p["purpose"] == "newsletter")
    assert newsletter["legal_basis"] == "consent" and newsletter["retention_explained"] == "2 years"
    assert "crm-b (mailchimp, house-b)" in newsletter["recipients"]
    assert any("supervisory authority" in line for line in info["your_rights"])
    assert "House A" in info["controllers"] and "House B" in info["controllers"]
    actions = [
        r[0] for r in world.hub.sql("SELECT action FROM audit_entries WHERE actor = :a", a=f"person:{world.person_id}")
    ]
    assert "buyer.export" in actions and "people.read" in actions


def test_the_workbook_has_a_sheet_a_topic_text_cells_and_naive_utc_times(world: BuyerWorld, client: TestClient) -> None:
    with world.hub.uow() as uow:
        PeopleService(uow).update(world.hub.actor(), world.person_id, {"given_name": '=HYPERLINK("http://x.invalid")'})
    choose(client, "newsletter|house|house-b")
    response = client.get("/my/alpha/download/my-data.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert set(export.SHEETS) <= set(book.sheetnames) and {"information", "purposes"} <= set(book.sheetnames)
    profile = {row[0].value: row[1] for row in book["profile"].iter_rows(min_row=2)}
    assert profile["given_name"].data_type == "s" and profile["given_name"].value.startswith("=HYPERLINK")
    history = book["consent_history"]
    header = [c.value for c in history[1]]
    given = history.cell(row=2, column=header.index("given_at (UTC)") + 1).value
    assert isinstance(given, dt.datetime) and given.tzinfo is None


# -- requests ---------------------------------------------------------------------------------------
def test_a_rectification_is_a_received_request_due_in_one_month_with_a_reference_mailed(
    world: BuyerWorld, client: TestClient
) -> None:
    csrf, _ = form(client, "/my/alpha/requests/new/rectification")
    response = client.post(
        "/my/alpha/requests/new/rectification",
        data={"csrf": csrf, "field": "family_name", "value": "Claeys-Vandamme"},
        follow_redirects=False,
    )
    reference = re.search(r"received=(DSR-[A-Z0-9]{4}-[A-Z0-9]{4})", response.headers["location"])
    assert reference
    row = world.hub.sql("SELECT kind, status, received_at, due_at, detail_ct, channel FROM data_subject_requests")[0]
    # signed in with the mailed link: the identity is the signed-in address
    assert row[0:2] == ("rectification", "verified") and row[5] == "web"
    received = row[2] if isinstance(row[2], dt.datetime) else dt.datetime.fromisoformat(str(row[2]))
    due = row[3] if isinstance(row[3], dt.datetime) else dt.datetime.fromisoformat(str(row[3]))
    zone = world.hub.settings.cluster("alpha").zone()
    assert due.replace(tzinfo=None) == one_month_deadline(received.replace(tzinfo=dt.UTC), zone).replace(tzinfo=None)
    assert b"Claeys-Vandamme" not in bytes(row[4])  # sealed with the person's key
    steps = world.hub.sql("SELECT step, status FROM data_subject_request_steps ORDER BY id")
    assert steps == [("received", "received"), ("verified", "verified")]
    page = client.get(response.headers["location"]).text
    assert reference.group(1) in page and "being handled" in page
    mail_queue().drain()
    assert any(reference.group(1) in m.subject for m in world.catcher.to(BUYER_EMAIL))


def test_a_buyer_withdraws_their_own_open_request_and_no_one_elses(world: BuyerWorld, client: TestClient) -> None:
    csrf, _ = form(client, "/my/alpha/requests/new/restriction")
    client.post("/my/alpha/requests/new/restriction", data={"csrf": csrf}, follow_redirects=False)
    mine = world.hub.sql("SELECT reference FROM data_subject_requests")[0][0]
    # someone else's request: the same answer as a reference that does not exist
    with world.hub.uow() as uow:
        other = PeopleService(uow).create(world.hub.actor(), {"email": "ander.iemand@example.org"})
        from consent_hub.requests.service import RequestsService

        theirs = RequestsService(uow).register(
            world.hub.actor(), kind="access", channel="mail", person_id=other, mail_receipt=False
        )
    assert theirs is not None
    csrf, _ = form(client, "/my/alpha/requests")
    for reference in (theirs.reference, "DSR-ZZZZ-ZZZZ"):
        refused = client.post(f"/my/alpha/requests/{reference}/withdraw", data={"csrf": csrf})
        assert refused.status_code == 404
    assert client.post(f"/my/alpha/requests/{mine}/withdraw", data={"csrf": "wrong"}).status_code == 403
    done = client.post(f"/my/alpha/requests/{mine}/withdraw", data={"csrf": csrf})
    assert done.status_code == 200 and f"You withdrew request {mine}" in done.text
    rows = dict(world.hub.sql("SELECT reference, status FROM data_subject_requests"))
    assert rows == {mine: "withdrawn-by-person", theirs.reference: "received"}
    assert world.hub.sql("SELECT count(*) FROM audit_entries WHERE action = 'request.withdrawn-by-person'")[0][0] == 1
    assert f"Withdraw {mine}" not in done.text  # closed: no button any more


def test_a_request_with_missing_answers_shows_errors_next_to_the_fields_and_stores_nothing(
    world: BuyerWorld, client: TestClient
) -> None:
    csrf, _ = form(client, "/my/alpha/requests/new/rectification")
    response = client.post("/my/alpha/requests/new/rectification", data={"csrf": csrf})
    assert response.status_code == 422
    assert 'id="field-error"' in response.text and 'id="value-error"' in response.text
    assert 'href="#field"' in response.text  # the error summary links to the field
    assert world.hub.sql("SELECT count(*) FROM data_subject_requests")[0][0] == 0


def test_an_erasure_needs_a_second_click_then_runs_the_erasure_path(world: BuyerWorld, client: TestClient) -> None:
    add_newsletter_audience(world.hub, "crm-a", house=HOUSE_A)
    choose(client, "newsletter|house|house-a")
    csrf, _ = form(client, "/my/alpha/requests/erase")
    first = client.post("/my/alpha/requests/erase", data={"csrf": csrf})
    assert "Are you sure?" in first.text
    assert world.hub.sql("SELECT status FROM people")[0][0] == "active"
    assert world.hub.sql("SELECT count(*) FROM data_subject_requests")[0][0] == 0
    done = client.post("/my/alpha/requests/erase/confirm", data={"csrf": csrf, "confirm": "yes"})
    reference = world.hub.sql("SELECT reference, status FROM data_subject_requests")[0]
    # carried out in the hub at once; the controller house signs off its part (its own systems)
    assert reference[1] == "waiting-for-house" and reference[0] in done.text
    assert world.hub.sql("SELECT house, status FROM data_subject_request_parts") == [(HOUSE_A, "open")]
    assert world.hub.sql("SELECT status FROM people")[0][0] == "erased"
    assert world.hub.sql("SELECT count(*) FROM suppressions")[0][0] == 1
    assert ("crm-a", "erase") in world.hub.sql("SELECT destination, kind FROM outbox")
    assert world.hub.sql("SELECT count(*) FROM person_keys", keystore=True)[0][0] == 0
    assert world.hub.sql("SELECT count(*) FROM buyer_sessions WHERE ended_at IS NULL")[0][0] == 0
    erase_entry = world.hub.sql("SELECT actor, role, detail FROM audit_entries WHERE action = 'people.erase'")[0]
    assert erase_entry[0:2] == (f"person:{world.person_id}", "buyer") and reference[0] in erase_entry[2]
    mail_queue().drain()
    assert any(reference[0] in m.subject for m in world.catcher.to(BUYER_EMAIL))
    assert client.get("/my/alpha/houses", follow_redirects=False).status_code == 303  # signed out


def test_the_pages_speak_the_buyers_own_language_unless_they_switch(world: BuyerWorld) -> None:
    from consent_hub.access.service import RelationService

    with world.hub.uow() as uow:
        pid = PeopleService(uow).create(world.hub.actor(), {"email": "amelie.lefebvre@example.org", "language": "fr"})
        RelationService(uow).touch(world.hub.actor(), pid, HOUSE_A, "customer", reason="data-migration")
    app = create_app(world.hub.settings, world.hub.registry)
    with TestClient(app, headers={"Accept-Language": "en"}) as c:
        assert "Send me a sign-in link" in c.get("/my/alpha/").text  # the browser's language before sign-in
        ask_sign_in(c, "amelie.lefebvre@example.org")
        press_link(c, world.link_in(world.last_mail("amelie.lefebvre@example.org"))[1])
        assert "Quelles maisons vous connaissent" in c.get("/my/alpha/houses").text  # her own language
        assert "Wie kent mij" in c.get("/my/alpha/houses?lang=nl").text  # the switch wins
        assert "Wie kent mij" in c.get("/my/alpha/choices").text  # and is kept


def test_pages_need_a_session_and_send_their_strict_headers(world: BuyerWorld) -> None:
    with TestClient(create_app(world.hub.settings, world.hub.registry)) as anonymous:
        for path in ("houses", "choices", "access", "told", "download", "download/my-data.json", "requests"):
            response = anonymous.get(f"/my/alpha/{path}", follow_redirects=False)
            assert response.status_code == 303 and response.headers["location"] == "/my/alpha/"
        page = anonymous.get("/my/alpha/")
        assert page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert anonymous.get("/", follow_redirects=False).headers["location"] == "/my/alpha/"
        assert anonymous.get("/my/no-such-cluster/").status_code == 404
