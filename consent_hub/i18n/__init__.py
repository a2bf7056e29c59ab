"""The languages of the buyer's pages and mails (nl, en, fr): gettext catalogues under ``locale/``
(``.po`` files, compiled in memory when first used, so no generated file is kept in the
repository), the choice of a language from the buyer, ``Accept-Language`` or a switch, and the
Jinja2 environments that render through them."""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

import jinja2
from babel.dates import format_date, format_datetime, get_timezone
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from consent_hub.clock import utcnow

LANGUAGES = ("nl", "en", "fr")
DEFAULT_LANGUAGE = "nl"
BRUSSELS = get_timezone("Europe/Brussels")  # the clusters are Belgian; stored times are UTC
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(language: str) -> gettext.GNUTranslations:
    """The language's catalogue, compiled from its ``.po`` file (once per process)."""
    if language not in LANGUAGES:
        raise ValueError("unsupported language")
    with catalogue_path(language).open("rb") as fh:
        catalog = read_po(fh, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def negotiate(accept_language: str | None) -> str:
    """The first of nl/en/fr the browser asks for (by q-value), else Dutch."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        wanted.append((-quality, position, tag.strip().lower().split("-")[0]))
    for quality, _, language in sorted(wanted):
        if quality < 0 and language in LANGUAGES:
            return language
    return DEFAULT_LANGUAGE


def chosen_language(*candidates: str | None) -> str:
    """The first candidate that is one of the languages (a switch, the buyer's own, the browser's)."""
    for candidate in candidates:
        if candidate:
            short = candidate.lower().split("-")[0]
            if short in LANGUAGES:
                return short
    return DEFAULT_LANGUAGE


def environment(template_dir: Path, language: str) -> jinja2.Environment:
    """A Jinja2 environment whose ``_``/``gettext``/``ngettext`` and date filters speak ``language``.
    Autoescaped for HTML; ``.txt`` templates (plain-text mails) are not escaped."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=False, default=False),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["date"] = lambda value: format_date(value, format="long", locale=language) if value else ""
    env.filters["datetime"] = lambda value: (
        format_datetime(value, format="medium", tzinfo=BRUSSELS, locale=language) if value else ""
    )
    env.globals["language"] = language
    env.globals["languages"] = LANGUAGES
    env.globals["now"] = utcnow
    return env
