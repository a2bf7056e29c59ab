"""Real headless Chromium (Debian's ``/usr/bin/chromium``) through Playwright for the buyer's
pages, and where screenshots go (``test-artifacts/``, gitignored; CONSENT_HUB_TEST_ARTIFACTS moves it).

``playwright install`` cannot download browsers here, so the system Chromium is launched by path.
Without it the browser tests skip, unless CONSENT_HUB_REQUIRE_BROWSER=1 (set by .ci/run, which
installs it) makes that a failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CONSENT_HUB_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("CONSENT_HUB_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        if os.environ.get("CONSENT_HUB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CONSENT_HUB_REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
        pytest.skip(f"browser test: {CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
