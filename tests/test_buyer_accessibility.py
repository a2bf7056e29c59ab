"""An axe-core scan (axe-playwright-python, in real headless Chromium) of every buyer page, in
each of nl, en and fr, finds no serious or critical violation (issue 14, point 4 and "Must show");
the pages keep their strict headers, and their targets are at least 24x24 CSS px."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from consent_hub.access.service import RelationService
from consent_hub.app import create_app
from consent_hub.people.service import PeopleService
from fakes.mailcatcher import MailCatcher
from fakes.server import RunningServer, free_port, serve_in_thread
from tests.browser import artifact, chromium  # noqa: F401 - the fixture
from tests.buyer_world import HOUSE_A, BuyerWorld, build_world
from tests.conftest import make_hub

LANGUAGES = ("nl", "en", "fr")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BuyerWorld, RunningServer]]:
    hub = make_hub(tmp_path_factory.mktemp("a11y"), "sqlite")
    port = free_port()
    with MailCatcher() as catcher:
        world = build_world(hub, catcher, base_url=f"http://127.0.0.1:{port}")
        with hub.uow() as uow:
            for language in LANGUAGES:
                pid = PeopleService(uow).create(hub.actor(), {"email": f"a11y.{language}@example.org"})
                RelationService(uow).touch(hub.actor(), pid, HOUSE_A, "customer", reason="data-migration")
        server = serve_in_thread(create_app(hub.settings, hub.registry), port=port)
        try:
            yield world, server
        finally:
            server.stop()
            hub.registry.dispose()


def _scan(page: Any, name: str, found: list[str]) -> None:
    results = Axe().run(page)
    for violation in results.response["violations"]:
        if violation["impact"] in ("serious", "critical"):
            nodes = [n["target"] for n in violation["nodes"]][:3]
            found.append(f"{name}: {violation['id']} ({violation['impact']}) at {nodes}")
    page.screenshot(path=artifact(f"a11y-{name}.png"), full_page=True)


def _small_targets(page: Any) -> list[str]:
    small = []
    for element in page.locator(
        "main a, main button, main input:not([type=hidden]), header a, nav a, nav button"
    ).all():
        box = element.bounding_box()
        if box is not None and (box["width"] < 24 or box["height"] < 24):
            small.append(element.evaluate("e => e.outerHTML")[:80])
    return small


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_passes_axe_in_each_language(
    site: tuple[BuyerWorld, RunningServer],
    chromium: Any,  # noqa: F811
    language: str,
) -> None:
    world, server = site
    base = f"{server.url}/my/alpha"
    email = f"a11y.{language}@example.org"
    context = chromium.new_context(locale={"nl": "nl-BE", "en": "en-GB", "fr": "fr-BE"}[language])
    page = context.new_page()
    found: list[str] = []
    small: list[str] = []

    def visit(path: str, name: str) -> None:
        response = page.goto(f"{base}{path}")
        assert response is not None
        headers = response.headers
        assert "script-src" not in headers["content-security-policy"]  # default-src 'none': no script at all
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        _scan(page, f"{language}-{name}", found)
        small.extend(_small_targets(page))

    def submit(name: str) -> None:
        page.locator("main form button[type=submit]").first.click()
        page.wait_for_load_state()
        _scan(page, f"{language}-{name}", found)

    try:
        visit("/", "sign-in")
        submit("sign-in-error")  # no address entered: the error next to the field
        page.locator("#email").fill(email)
        submit("check-mail")
        page.locator("#code").fill("00000000")
        submit("wrong-code")
        mail = world.last_mail(email)
        link, _ = world.link_in(mail)
        page.goto(link)
        _scan(page, f"{language}-link", found)
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()
        for path in ("houses", "choices", "access", "told", "download", "requests", "requests/erase"):
            visit(f"/{path}", path.replace("/", "-"))
        for kind in ("rectification", "restriction", "objection"):
            visit(f"/requests/new/{kind}", f"request-{kind}")
        visit("/requests/new/rectification", "request-error-page")
        submit("request-errors")  # nothing chosen: errors next to the fields
        visit("/requests/new/restriction", "request-restriction-again")
        submit("requests-listed")  # the list with the request and its withdraw button
        submit("request-withdrawn")
        visit("/choices", "choices-again")
        submit("choices-saved")
        visit("/requests/erase", "erase")
        submit("erase-confirm")
        submit("erased")
        visit("/no-such-page", "not-found")
        page.goto(f"{server.url}/my/no-such-cluster/")
        _scan(page, f"{language}-unknown-cluster", found)
    finally:
        context.close()
    assert found == []
    assert small == []


def test_the_stylesheet_is_the_only_resource_and_from_the_hub(site: tuple[BuyerWorld, RunningServer]) -> None:
    import httpx

    _, server = site
    text = httpx.get(f"{server.url}/my/alpha/").text
    assert (
        "<script" not in text
        and "style=" not in text
        and "http" not in text.split("<body", 1)[0].replace('href="/my/static/hub.css"', "")
    )
    assert httpx.get(f"{server.url}/my/static/hub.css").headers["content-type"].startswith("text/css")
    assert Path(artifact("a11y-check")).parent.exists()
