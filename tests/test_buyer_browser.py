"""The buyer's journeys in real headless Chromium (issue 14, "Must show"), with JavaScript off:
a buyer of house A signs in through the link read from the real SMTP server, sees that house A
knows them and house B does not, shares with house B for its newsletter; house B's marketer (API
key) then finds them for the newsletter only; the buyer withdraws and house B loses them at once;
the JSON and XLSX downloads hold the consent history; "who accessed my data" shows the marketer's
lookup, and "who was told" the CRM's receipt. Screenshots go to test-artifacts/."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from consent_hub.app import create_app
from consent_hub.outbox.delivery import OutboxWorker
from fakes import mailchimp as fake_crm
from fakes.mailcatcher import MailCatcher
from fakes.server import RunningServer, free_port, serve_in_thread
from tests.browser import artifact, chromium  # noqa: F401 - the fixture
from tests.buyer_world import BUYER_EMAIL, HOUSE_B, BuyerWorld, build_world
from tests.conftest import auth, make_hub
from tests.factories import add_newsletter_audience

LIST = "house-b-newsletter"


@dataclass
class Served:
    world: BuyerWorld
    server: RunningServer
    crm: fake_crm.MailchimpState
    marketer_key: str

    @property
    def base(self) -> str:
        return f"{self.server.url}/my/alpha"

    def lookup(self, purpose: str) -> int:
        response = httpx.post(
            f"{self.server.url}/v1/people/lookup",
            json={"email": BUYER_EMAIL, "purpose": purpose},
            headers=auth(self.marketer_key),
        )
        return response.status_code


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    hub = make_hub(tmp_path, "sqlite")
    state = fake_crm.MailchimpState(lists=[LIST])
    crm = serve_in_thread(fake_crm.create_app(state))
    port = free_port()
    with MailCatcher() as catcher:
        world = build_world(hub, catcher, base_url=f"http://127.0.0.1:{port}")
        add_newsletter_audience(
            hub, "crm-house-b", house=HOUSE_B, base_url=f"{crm.url}/3.0", list_id=LIST, api_key=fake_crm.DEFAULT_API_KEY
        )
        key = hub.issue_key("marketer", house=HOUSE_B)
        server = serve_in_thread(create_app(hub.settings, hub.registry), port=port)
        try:
            yield Served(world, server, state, key)
        finally:
            server.stop()
            crm.stop()
            hub.registry.dispose()


def _sign_in_by_link(served: Served, page: Any, shot: str) -> None:
    page.goto(f"{served.base}/")
    page.get_by_label("E-mail address").fill(BUYER_EMAIL)
    page.get_by_role("button", name="Send me a sign-in link").click()
    page.get_by_role("heading", name="Check your mail").wait_for()
    page.screenshot(path=artifact(f"{shot}-1-check-mail.png"), full_page=True)
    _, token = served.world.link_in(served.world.last_mail())
    page.goto(f"{served.base}/sign-in/link/{token}")
    page.screenshot(path=artifact(f"{shot}-2-link-page.png"), full_page=True)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Which houses know you").wait_for()


def test_a_buyer_shares_with_house_b_which_finds_them_for_its_newsletter_only_until_they_withdraw(
    served: Served,
    chromium: Any,  # noqa: F811
) -> None:
    context = chromium.new_context(java_script_enabled=False, locale="en-GB", accept_downloads=True)
    page = context.new_page()
    try:
        _sign_in_by_link(served, page, "journey")
        known = page.locator("h2:has-text('These houses know you') + ul")
        unknown = page.locator("h2:has-text('These houses do not know you') + ul")
        assert "House A" in known.inner_text() and "you bought tickets there" in known.inner_text()
        assert "House B" in unknown.inner_text() and "House B" not in known.inner_text()
        page.screenshot(path=artifact("journey-3-houses.png"), full_page=True)

        assert served.lookup("newsletter") == 404  # not visible to house B before the buyer shares
        page.get_by_role("link", name="My choices").click()
        house_b = page.get_by_role("group", name="What may House B do?")
        newsletter = house_b.get_by_label("Newsletter")
        assert not newsletter.is_checked()  # nothing pre-selected
        newsletter.check()
        page.screenshot(path=artifact("journey-4-choices.png"), full_page=True)
        page.get_by_role("button", name="Save my choices").click()
        page.get_by_text("1 change saved.").wait_for()

        assert served.lookup("newsletter") == 200
        assert served.lookup("share-with-house") == 404
        assert served.lookup("cluster-marketing") == 404
        assert served.lookup("ticketing-service") == 403  # a marketer has nothing for it at all

        # the change reached house B's CRM through the outbox, with a receipt the buyer can see
        OutboxWorker(served.world.hub.registry, "alpha").run_once()
        member = served.crm.member(LIST, BUYER_EMAIL)
        assert member is not None and member["status"] == "subscribed"
        page.get_by_role("link", name="Who was told").click()
        told = page.locator("table").inner_text()
        assert "crm-house-b" in told and "delivered" in told and "Newsletter" in told
        page.screenshot(path=artifact("journey-5-told.png"), full_page=True)

        page.get_by_role("link", name="My choices").click()
        page.get_by_role("group", name="What may House B do?").get_by_label("Newsletter").uncheck()
        page.get_by_role("button", name="Save my choices").click()
        page.get_by_text("1 change saved.").wait_for()
        assert served.lookup("newsletter") == 404  # at once

        page.get_by_role("link", name="Download my data").click()
        with page.expect_download() as download:
            page.get_by_role("link", name="Download as JSON").click()
        data = json.loads(Path(download.value.path()).read_text("utf-8"))
        history = [(e["purpose"], e["target"], e["status"], e["channel"]) for e in data["consent_history"]]
        assert ("newsletter", "house:house-b", "granted", "web") in history
        assert ("newsletter", "house:house-b", "withdrawn", "web") in history
        assert all(e["notice_text"] for e in data["consent_history"])
        assert data["profile"]["email"] == BUYER_EMAIL
        assert {p["purpose"] for p in data["information"]["purposes"]} >= {"newsletter", "share-with-house"}
        with page.expect_download() as download:
            page.get_by_role("link", name="Download as a spreadsheet").click()
        book = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
        sheet = book["consent_history"]
        header = [c.value for c in sheet[1]]
        rows = [dict(zip(header, (c.value for c in row), strict=True)) for row in sheet.iter_rows(min_row=2)]
        assert {(r["target"], r["status"]) for r in rows} >= {
            ("house:house-b", "granted"),
            ("house:house-b", "withdrawn"),
        }
        assert "given_at (UTC)" in header
        page.screenshot(path=artifact("journey-6-download.png"), full_page=True)

        page.get_by_role("link", name="Who accessed my data").click()
        rows_text = [r.inner_text() for r in page.locator("tbody tr").all()]
        marketer_reads = [r for r in rows_text if "House B" in r and "marketing" in r and "read your details" in r]
        assert marketer_reads, rows_text
        assert "Newsletter" in marketer_reads[0] and "e-mail address" in marketer_reads[0]
        page.screenshot(path=artifact("journey-7-access.png"), full_page=True)

        page.get_by_role("button", name="Sign out").click()
        page.get_by_text("You are signed out.").wait_for()
        page.goto(f"{served.base}/houses")
        assert page.get_by_role("button", name="Send me a sign-in link").is_visible()  # the session is gone
    finally:
        context.close()


def test_opening_the_link_without_pressing_the_button_signs_nothing_in(served: Served, chromium: Any) -> None:  # noqa: F811
    context = chromium.new_context(java_script_enabled=False, locale="en-GB")
    page = context.new_page()
    try:
        page.goto(f"{served.base}/")
        page.get_by_label("E-mail address").fill(BUYER_EMAIL)
        page.get_by_role("button", name="Send me a sign-in link").click()
        link, _ = served.world.link_in(served.world.last_mail())
        page.goto(link)
        page.get_by_role("button", name="Sign in").wait_for()
        assert served.world.hub.sql("SELECT count(*) FROM buyer_sessions")[0][0] == 0
        assert served.world.hub.sql("SELECT count(*) FROM buyer_sign_ins WHERE used_at IS NOT NULL")[0][0] == 0
        page.goto(f"{served.base}/houses")
        assert page.get_by_role("button", name="Send me a sign-in link").is_visible()
        assert not any(c["name"] == "consent_hub_session" for c in context.cookies())
    finally:
        context.close()


def test_a_buyer_signs_in_with_the_code_and_erases_their_data_with_a_second_click(
    served: Served,
    chromium: Any,  # noqa: F811
) -> None:
    context = chromium.new_context(java_script_enabled=False, locale="nl-BE")
    page = context.new_page()
    try:
        page.goto(f"{served.base}/")
        page.get_by_label("E-mailadres").fill(BUYER_EMAIL)
        page.get_by_role("button", name="Stuur me een aanmeldlink").click()
        mail = served.world.last_mail()
        assert "Aanmelden" in mail.subject
        page.get_by_label("Code uit de mail").fill(served.world.code_in(mail))
        page.get_by_role("button", name="Aanmelden").click()
        page.get_by_role("heading", name="Welke huizen je kennen").wait_for()
        cookie = next(c for c in context.cookies() if c["name"] == "consent_hub_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/my/alpha"

        page.get_by_role("link", name="Mijn verzoeken").click()
        page.get_by_role("link", name="Mijn gegevens wissen").click()
        page.get_by_role("button", name="Verder om mijn gegevens te wissen").click()
        page.get_by_text("Ben je zeker?").wait_for()
        page.screenshot(path=artifact("erase-1-confirm.png"), full_page=True)
        assert served.world.hub.sql("SELECT status FROM people")[0][0] == "active"  # one click erases nothing
        page.get_by_role("button", name="Ja, wis mijn gegevens nu").click()
        page.get_by_role("heading", name="Je gegevens zijn gewist").wait_for()
        page.screenshot(path=artifact("erase-2-done.png"), full_page=True)
        reference = served.world.hub.sql("SELECT reference, status FROM data_subject_requests")[0]
        assert reference[1] in ("done", "waiting-for-house")
        assert reference[0] in page.content()
        assert served.world.hub.sql("SELECT status FROM people")[0][0] == "erased"
        done = served.world.last_mail(count=2)
        assert reference[0] in done.subject and reference[0] in done.text
        page.goto(f"{served.base}/houses")
        assert page.get_by_role("button", name="Stuur me een aanmeldlink").is_visible()
    finally:
        context.close()
