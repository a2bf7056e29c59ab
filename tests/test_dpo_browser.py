"""The DPO's journeys in real headless Chromium (issue 15, "Must show"), with JavaScript off: a
cluster DPO signs in with their key, finds every access to one buyer by e-mail, verifies the
chain and downloads the last checkpoint, and handles an access request and an erasure request
to "done" (the house's part signed off). Then an axe-core scan (axe-playwright-python) of every
console page in nl, en and fr finds no serious or critical violation. Screenshots go to
test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from consent_hub.access.service import RelationService
from consent_hub.actors import Actor
from consent_hub.app import create_app
from consent_hub.audit.service import AuditLog
from consent_hub.people.service import PeopleService
from fakes.mailcatcher import MailCatcher
from fakes.server import RunningServer, free_port, serve_in_thread
from tests.browser import artifact, chromium  # noqa: F401 - the fixture
from tests.buyer_world import configure
from tests.conftest import make_hub
from tests.test_dpo_console import BUYER, HOUSE_A, World, build

LANGUAGES = ("nl", "en", "fr")
SCANNED = "axe.scan@example.org"


@dataclass
class Served:
    world: World
    server: RunningServer

    @property
    def base(self) -> str:
        return f"{self.server.url}/dpo/alpha"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    hub = make_hub(tmp_path_factory.mktemp("dpo-browser"), "sqlite")
    port = free_port()
    with MailCatcher() as catcher:
        configure(hub, catcher, base_url=f"http://127.0.0.1:{port}")
        world = build(hub)
        with hub.uow() as uow:
            # the axe scan's own person (the journey erases the buyer)
            pid = PeopleService(uow).create(hub.actor(), {"email": SCANNED})
            RelationService(uow).touch(hub.actor(), pid, HOUSE_A, "customer", reason="data-migration")
        with hub.uow() as uow:
            AuditLog(uow.session, "alpha").checkpoint(Actor.cli("alpha"), uow.rt.keys)
        server = serve_in_thread(create_app(hub.settings, hub.registry), port=port)
        try:
            yield Served(world, server)
        finally:
            server.stop()
            hub.registry.dispose()


def _sign_in(page: Any, served: Served, key: str) -> None:
    page.goto(f"{served.base}/")
    page.locator("#api_key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def _register(page: Any, served: Served, kind: str) -> str:
    page.goto(f"{served.base}/requests/new")
    page.locator(f"#kind-{kind}" if kind != "access" else "#kind").check()
    page.locator("#channel").check()  # by post or e-mail
    page.locator("#email").fill(BUYER)
    page.locator("#verified_note").fill("identity card seen at the counter")
    page.get_by_role("button", name="Register the request").click()
    page.wait_for_load_state()
    reference: str = page.url.rsplit("/", 1)[1]
    assert reference.startswith("DSR-")
    return reference


def _handle_to_done(page: Any, served: Served, reference: str, name: str) -> None:
    page.get_by_role("button", name="Start handling it").click()
    page.wait_for_load_state()
    page.get_by_role("button", name="Carry out the request").click()
    page.wait_for_load_state()
    assert page.locator("#status").inner_text() == "waiting for a house"
    page.locator("#sign-off-house").select_option(HOUSE_A)
    page.get_by_role("button", name="Sign off this house's part").click()
    page.wait_for_load_state()
    assert page.locator("#status").inner_text() == "done"
    page.screenshot(path=artifact(f"dpo-{name}-done.png"), full_page=True)


def test_a_dpo_finds_every_access_verifies_the_chain_and_handles_two_requests(
    served: Served,
    chromium: Any,  # noqa: F811
) -> None:
    context = chromium.new_context(java_script_enabled=False, locale="en-GB", accept_downloads=True)
    page = context.new_page()
    try:
        _sign_in(page, served, served.world.keys["cluster-dpo"])
        assert page.url == f"{served.base}/audit"
        # every access to one buyer, by e-mail (a POST: the address is in no URL)
        page.locator("#email").fill(BUYER)
        page.get_by_role("button", name="Search").click()
        page.wait_for_load_state()
        assert BUYER not in page.url
        rows = page.locator("table tbody tr")
        assert rows.count() >= 2  # the record's creation and the box office's read
        text = page.locator("table").inner_text()
        assert "people.read" in text and "test box-office" in text and HOUSE_A in text
        page.screenshot(path=artifact("dpo-audit-search.png"), full_page=True)
        # the chain
        page.get_by_role("link", name="Chain verification").click()
        page.get_by_role("button", name="Verify the chain now").click()
        page.wait_for_load_state()
        assert "The chain is intact" in page.locator("#verdict").inner_text()
        with page.expect_download() as download:
            page.get_by_role("link", name="Download the last checkpoint (signed text)").click()
        assert download.value.suggested_filename == "alpha-checkpoint.txt"
        page.screenshot(path=artifact("dpo-chain.png"), full_page=True)
        # an access request, then an erasure request, to "done"
        access = _register(page, served, "access")
        _handle_to_done(page, served, access, "access")
        erasure = _register(page, served, "erasure")
        _handle_to_done(page, served, erasure, "erasure")
        page.goto(f"{served.base}/requests")
        closed = page.locator("#closed").inner_text()
        assert access in closed and erasure in closed
        page.screenshot(path=artifact("dpo-requests.png"), full_page=True)
        # the erased buyer: no person answers the address any more
        page.goto(f"{served.base}/audit")
        page.locator("#email").fill(BUYER)
        page.get_by_role("button", name="Search").click()
        page.wait_for_load_state()
        assert "No entry matches." in page.locator("main").inner_text()
    finally:
        context.close()


def _scan(page: Any, name: str, found: list[str]) -> None:
    results = Axe().run(page)
    for violation in results.response["violations"]:
        if violation["impact"] in ("serious", "critical"):
            nodes = [n["target"] for n in violation["nodes"]][:3]
            found.append(f"{name}: {violation['id']} ({violation['impact']}) at {nodes}")
    page.screenshot(path=artifact(f"a11y-dpo-{name}.png"), full_page=True)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_console_page_passes_axe_in_each_language(
    served: Served,
    chromium: Any,  # noqa: F811
    language: str,
) -> None:
    context = chromium.new_context(locale={"nl": "nl-BE", "en": "en-GB", "fr": "fr-BE"}[language])
    page = context.new_page()
    found: list[str] = []

    def visit(path: str, name: str) -> None:
        response = page.goto(f"{served.base}{path}")
        assert response is not None
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        _scan(page, f"{language}-{name}", found)

    def submit(name: str, button: int = 0) -> None:
        page.locator("main form button[type=submit]").nth(button).click()
        page.wait_for_load_state()
        _scan(page, f"{language}-{name}", found)

    try:
        visit("/", "sign-in")
        page.locator("#api_key").fill("chk_alpha_nope_" + "x" * 40)
        submit("sign-in-refused")
        page.locator("#api_key").fill(served.world.keys["cluster-dpo"])
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()
        visit("/audit", "audit")
        page.locator("#email").fill(BUYER)
        submit("audit-results")
        page.locator("#start").fill("yesterday")
        submit("audit-errors")
        visit("/chain", "chain")
        submit("chain-verified")
        for path in ("requests", "requests/new", "deliveries", "clients", "anomalies", "reports"):
            visit(f"/{path}", path.replace("/", "-"))
        visit("/requests/new", "register")
        submit("register-errors")
        page.locator("#kind").check()
        page.locator("#channel").check()
        page.locator("#email").fill(SCANNED)
        submit("request")  # the request's page, with every step's form
        reference = page.url.rsplit("/", 1)[1]
        page.locator("#refuse-reason").fill("")
        page.locator("form[action$='/refuse'] button").click()
        page.wait_for_load_state()
        _scan(page, f"{language}-request-error", found)
        visit(f"/requests/{reference}", "request-again")
        page.locator("#verify-note").fill("identity card seen at the counter")
        page.locator("form[action$='/verify'] button").click()
        page.wait_for_load_state()
        page.locator("form[action$='/start'] button").click()
        page.wait_for_load_state()
        page.locator("form[action$='/execute'] button").click()
        page.wait_for_load_state()
        _scan(page, f"{language}-request-waiting", found)
        page.locator("form[action$='/sign-off'] button").click()
        page.wait_for_load_state()
        _scan(page, f"{language}-request-done", found)
        visit("/requests", "requests-later")
        visit("/no-such-page", "not-found")
    finally:
        context.close()
    assert found == []
