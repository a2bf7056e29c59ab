"""The buyer's pages and mails have no untranslated string (issue 14, "Must show"): every message
the code and the templates use is in the nl, en and fr catalogues with a translation (every plural
form, the same placeholders), no catalogue keeps a message nothing uses, and no template has text
outside a gettext call."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from consent_hub.i18n import LANGUAGES, catalogue_path, translations

ROOT = Path(__file__).resolve().parents[1]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "tr": (2,)}
# what `pybabel extract` reads, from the one place that says it
with (ROOT / "consent_hub/i18n/babel.cfg").open(encoding="utf-8") as _cfg:
    METHODS = parse_mapping_cfg(_cfg)[0]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def used_messages() -> set[str | tuple[str, ...]]:
    found: set[str | tuple[str, ...]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map=METHODS, keywords=KEYWORDS, comment_tags=(), strip_comment_tags=True
    ):
        found.add(message if isinstance(message, str) else tuple(message))
    return {m for m in found if m}


def test_the_code_uses_messages_at_all() -> None:
    used = used_messages()
    assert "Sign in" in used and len(used) > 150


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated(language: str) -> None:
    with catalogue_path(language).open("rb") as fh:
        catalogue = read_po(fh, locale=language)
    entries = {m.id if isinstance(m.id, str) else tuple(m.id): m for m in catalogue if m.id}
    used = used_messages()
    assert sorted(map(str, used - set(entries))) == [], "messages missing from the catalogue"
    assert sorted(map(str, set(entries) - used)) == [], "catalogue messages nothing uses"
    for key, message in entries.items():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(s.strip() for s in strings), f"untranslated: {key!r}"
        assert not message.fuzzy, f"fuzzy: {key!r}"
        wanted = set(PLACEHOLDER.findall(key if isinstance(key, str) else key[-1]))
        for s in strings:
            assert set(PLACEHOLDER.findall(s)) == wanted, f"placeholders differ in {key!r}"


def test_a_translation_reads_in_its_language() -> None:
    assert translations("nl").gettext("Sign in") == "Aanmelden"
    assert translations("fr").gettext("Sign in") == "Se connecter"
    assert translations("en").gettext("Sign in") == "Sign in"


TEMPLATES = sorted(
    [
        *(ROOT / "consent_hub/buyer/templates").glob("*.html"),
        *(ROOT / "consent_hub/dpo/templates").glob("*.html"),
        *(ROOT / "consent_hub/mail/templates").glob("*"),
    ]
)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_no_template_has_text_outside_gettext(template: Path) -> None:
    text = template.read_text("utf-8")
    for pattern in (r"\{\{.*?\}\}", r"\{%.*?%\}", r"\{#.*?#\}", r"<[^>]*>", r"&[a-z]+;"):
        text = re.sub(pattern, " ", text, flags=re.S)
    words = re.findall(r"[^\W\d_]{2,}", text)
    assert words == [], f"text outside gettext in {template.name}: {words[:10]}"
