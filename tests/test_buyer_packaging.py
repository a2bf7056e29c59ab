"""The wheel carries what the buyer's pages and mails need at run time: templates, the stylesheet
and the nl/en/fr catalogues (the ``.po`` files are compiled when first used)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from tests.test_packaging import _build_wheel


def test_the_wheel_carries_the_templates_stylesheet_and_catalogues(tmp_path: Path) -> None:
    with zipfile.ZipFile(_build_wheel(tmp_path)) as archive:
        names = set(archive.namelist())
    for language in ("nl", "en", "fr"):
        assert f"consent_hub/i18n/locale/{language}/LC_MESSAGES/messages.po" in names
    assert "consent_hub/buyer/static/hub.css" in names
    assert {"consent_hub/buyer/templates/base.html", "consent_hub/buyer/templates/choices.html"} <= names
    assert {"consent_hub/mail/templates/sign_in.txt", "consent_hub/mail/templates/sign_in.html"} <= names
