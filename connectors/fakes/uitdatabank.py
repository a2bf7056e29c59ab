"""A fake of the UiTdatabank Search API v3 (``https://search.uitdatabank.be``) with seeded, fictional events.

It serves ``GET /events`` the way publiq documents it (the OpenAPI file ``search.json`` and the JSON Schemas
``models/event*.json`` of ``cultuurnet/apidocs``; field names are theirs) for the one use the hub has for it:
looking up which UiT event type (``terms[]`` of domain ``eventtype``) a house gave a performance it also sells
through the ticketing engine. The catalogue is built from ``(organizer id, title, start)`` seeds chosen by the
caller (so a test can mirror some of the fake Tixly's events) plus unrelated events; every name, organizer and
place is invented. Term ids and labels come from the real UiT taxonomy as published in the UWP code lists
(``Activiteittype``/``ThemaType``, ``owl:sameAs`` to ``https://taxonomy.uitdatabank.be/terms/<id>``).

Behaviour of the real API that the fake keeps on purpose:

* Authentication by API key, as an ``x-api-key`` header or an ``apiKey`` query parameter (optionally a client
  id as ``x-client-id`` / ``clientId``). A missing or wrong key is HTTP 401 with an
  ``application/problem+json`` body of type ``https://api.publiq.be/probs/auth/unauthorized``.
* Paging with ``start`` (0..10000) and ``limit`` (0..2000, default 30); the envelope is
  ``{"@context": "http://www.w3.org/ns/hydra/context.jsonld", "@type": "PagedCollection", "itemsPerPage",
  "totalItems", "member"}``. A value out of range is HTTP 404 of type ``https://api.publiq.be/probs/url/not-found``
  with the documented detail (``The "start" parameter should be between 0 and 10000``); so is any other
  invalid query value, as the reference's ``NotFound`` response describes.
* Without ``embed=true`` a member is only ``{"@id", "@type": "Event"}``.
* Default filters: only ``workflowStatus`` ``READY_FOR_VALIDATION``/``APPROVED``, only events available now
  (``availableFrom <= now <= availableTo``; an event stops being available at its end), only ``audienceType``
  ``everyone``. ``availableFrom=*``, ``availableTo=*``, ``workflowStatus=*``, ``audienceType=*`` or
  ``disableDefaultFilters=true`` lift them: a client looking for past performances has to.
* ``dateFrom`` / ``dateTo``: events happening at some point in the window (any overlap of a sub-event, of a
  periodic event's period); permanent events always match. A ``+`` of an offset that arrived unencoded (as a
  space) makes the date-time invalid, as the documentation warns.
* A production with several performances is usually one event with ``calendarType: multiple`` and one
  ``subEvent`` per performance (``startDate``/``endDate`` span them all); the fake groups seeds with the same
  organizer and title less than 15 days apart that way. Dates carry the Brussels offset
  (``2025-03-02T20:00:00+01:00``).
* Houses type their UiT titles by hand: letter case, dashes and spacing may differ from the engine's title, and
  the listed start is sometimes the door time (30 minutes early). A house sometimes re-enters an event: the old
  copy stays as ``workflowStatus: DELETED``, with another type. A touring title can be listed by another
  organizer on the same day, with another type.
* ``q``: a small subset of the Lucene syntax only: clauses ``field:value`` or ``field:"a phrase"`` joined by
  whitespace or ``AND``, each optionally preceded by ``NOT``; fields ``id``, ``name.<lang>`` (``name.\\*``),
  ``terms.id``, ``organizer.id``, ``calendarType``, ``workflowStatus``; a trailing ``*`` matches a prefix.
  Anything else (``OR``, brackets, ranges) is answered with 404 (``not supported by the fake``).
* Also: ``organizerId``, ``id``, ``termIds[]``, ``calendarType``, ``workflowStatus`` (comma-separated),
  ``sort[created]`` / ``sort[modified]``. Other parameters are ignored. The default order is stable (creation,
  then id); the real default order is by relevance, so a client that pages should sort explicitly.

Control endpoints (not part of the real API; same key): ``POST /_fake/faults`` injects 429s (``rate_limit``,
``retry_after``) and 5xxs (``server_errors``), ``GET /_fake/stats`` counts requests.

Run it: ``python -m connectors.fakes.uitdatabank --port 8020``.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import re
import threading
import unicodedata
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = [
    "DEFAULT_API_KEY",
    "EVENTTYPES",
    "THEMES",
    "BadQuery",
    "Seed",
    "UitCatalogue",
    "UitEvent",
    "build_catalogue",
    "create_app",
    "event_iri",
    "main",
    "organizer_iri",
]

DEFAULT_API_KEY = "uitdatabank-demo-key"
BRUSSELS: Final = ZoneInfo("Europe/Brussels")
IO_BASE = "https://io.uitdatabank.be"
HYDRA_CONTEXT = "http://www.w3.org/ns/hydra/context.jsonld"
PROBLEM = "application/problem+json"
MAX_START = 10_000
MAX_LIMIT = 2_000
DEFAULT_LIMIT = 30

# UiT taxonomy terms (id -> Dutch label). Event types and themes as listed, with owl:sameAs to
# https://taxonomy.uitdatabank.be/terms/<id>, in the UWP code lists Activiteittype.ttl and ThemaType.ttl.
EVENTTYPES: dict[str, str] = {
    "0.55.0.0.0": "Theatervoorstelling",
    "0.50.4.0.0": "Concert",
    "0.54.0.0.0": "Dansvoorstelling",
    "0.52.0.0.0": "Circus",
    "0.5.0.0.0": "Festival",
    "0.50.6.0.0": "Film",
    "0.3.2.0.0": "Lezing of congres",
    "0.0.0.0.0": "Tentoonstelling",
}
THEMES: dict[str, str] = {
    "1.3.1.0.0": "Tekst en muziektheater",
    "1.3.10.0.0": "Humor en comedy",
    "1.3.5.0.0": "Figuren en poppentheater",
    "1.4.0.0.0": "Musical",
    "1.9.1.0.0": "Ballet en klassieke dans",
    "1.9.2.0.0": "Moderne dans",
    "1.8.1.0.0": "Klassieke muziek",
    "1.8.2.0.0": "Jazz en blues",
    "1.8.3.1.0": "Pop en rock",
    "1.8.4.0.0": "Folk en wereldmuziek",
    "1.0.6.0.0": "Fotografie",
    "1.7.4.0.0": "Drama",
}
_THEMES_OF: dict[str, tuple[str, ...]] = {
    "0.55.0.0.0": ("1.3.1.0.0", "1.3.10.0.0", "1.3.5.0.0", "1.4.0.0.0"),
    "0.50.4.0.0": ("1.8.1.0.0", "1.8.2.0.0", "1.8.3.1.0", "1.8.4.0.0"),
    "0.54.0.0.0": ("1.9.1.0.0", "1.9.2.0.0"),
    "0.50.6.0.0": ("1.7.4.0.0",),
    "0.0.0.0.0": ("1.0.6.0.0",),
}
_PODIUM = ("0.55.0.0.0", "0.50.4.0.0", "0.54.0.0.0")
_PODIUM_WEIGHTS = (50, 30, 20)
WORKFLOW_STATUSES = ("DRAFT", "READY_FOR_VALIDATION", "APPROVED", "REJECTED", "DELETED")
DEFAULT_WORKFLOW = frozenset({"READY_FOR_VALIDATION", "APPROVED"})
CALENDAR_TYPES = ("single", "multiple", "periodic", "permanent")

# fmt: off
_UNRELATED_TITLES = (
    "Zomerbar aan de Vaart", "Lezing: Het Geheugen van de Stad", "Wandelconcert in het Park", "Filmavond Noir",
    "Boekenbeurs Westhoek", "Fotografie van de Polder", "Kinderkoor Klinkklaar", "Poëzie aan Zee",
    "Open Atelier Klei", "Stadsfestival Leiedagen", "Orgelconcert Sint-Maarten", "Dansavond Tango Kanaal",
    "De Grote Quiz", "Workshop Zeefdruk", "Jazz op het Plein", "Circus Zonder Tent",
)
_ORGANIZER_NAMES = (
    "Vzw Kunstkring Vlasbloem", "Cultuurdienst Zuidrand", "Muziekvereniging De Eendracht", "Filmclub Lichtspel",
    "Bibliotheek Westhoek", "Jeugdhuis De Kelder", "Vzw Zomer aan de Vaart", "Gemeenschapscentrum Het Anker",
)
_VENUES = (
    ("Schouwburgplein 1", "8500", "Kortrijk"), ("Vlasmarkt 12", "8500", "Kortrijk"), ("Kaai 4", "8800", "Roeselare"),
    ("Marktplein 7", "8900", "Ieper"), ("Stationsplein 3", "8790", "Waregem"), ("Kanaalweg 40", "8560", "Wevelgem"),
    ("Korenlei 9", "9000", "Gent"), ("Markt 2", "8700", "Tielt"),
)
# fmt: on


class BadQuery(Exception):
    """An invalid query parameter (the real API answers 404 ``url/not-found`` with a detail)."""


def event_iri(event_id: str) -> str:
    return f"{IO_BASE}/event/{event_id}"


def organizer_iri(organizer_id: str) -> str:
    return f"{IO_BASE}/organizers/{organizer_id}"


def place_iri(place_id: str) -> str:
    return f"{IO_BASE}/place/{place_id}"


def format_dt(moment: datetime) -> str:
    """Aware datetime -> ``2025-03-02T20:00:00+01:00`` (Brussels local time with its offset)."""
    return moment.astimezone(BRUSSELS).replace(microsecond=0).isoformat()


def parse_dt(value: str, name: str) -> datetime:
    """An ISO 8601 date-time with offset (``Z`` allowed); a naive one is read as Brussels time. A space where the
    offset's ``+`` belongs (an unencoded ``+`` in a query string) is invalid, as the documentation says."""
    text = value.strip()
    if " " in text:
        raise BadQuery(f'The "{name}" parameter is not a valid ISO 8601 date-time (was "+" sent unencoded?)')
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadQuery(f'The "{name}" parameter is not a valid ISO 8601 date-time') from None
    return moment.replace(tzinfo=BRUSSELS) if moment.tzinfo is None else moment


def fold(text: str) -> str:
    """Case- and accent-insensitive form, for the fake's ``q`` name matching."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


# --------------------------------------------------------------------------------------------------
# the catalogue


@dataclass(slots=True)
class UitEvent:
    id: str
    name: dict[str, str]
    organizer_id: str
    organizer_name: str
    place_id: str
    venue: tuple[str, str, str]  # street, postal code, locality
    calendar_type: str  # single | multiple | periodic | permanent
    sub_events: list[tuple[datetime, datetime]]  # single/multiple: the performances; periodic: the period
    eventtype: str
    themes: list[str]
    workflow_status: str
    created: datetime
    modified: datetime
    audience: str = "everyone"
    main_language: str = "nl"

    @property
    def start(self) -> datetime | None:
        return self.sub_events[0][0] if self.sub_events else None

    @property
    def end(self) -> datetime | None:
        return max(e for _, e in self.sub_events) if self.sub_events else None

    @property
    def available_from(self) -> datetime:
        return self.created

    @property
    def available_to(self) -> datetime | None:
        """Events stay on calendars until they end; permanent ones forever (None)."""
        return self.end

    def happens_between(self, lo: datetime | None, hi: datetime | None) -> bool:
        if self.calendar_type == "permanent":
            return True
        return any((hi is None or s <= hi) and (lo is None or e >= lo) for s, e in self.sub_events)

    def terms_json(self) -> list[dict[str, str]]:
        out = [{"id": self.eventtype, "label": EVENTTYPES[self.eventtype], "domain": "eventtype"}]
        out.extend({"id": t, "label": THEMES[t], "domain": "theme"} for t in self.themes)
        return out

    def to_json(self) -> dict[str, Any]:
        street, postal, locality = self.venue
        slug = re.sub(r"[^a-z0-9]+", "-", fold(self.name[self.main_language])).strip("-")
        body: dict[str, Any] = {
            "@id": event_iri(self.id),
            "@type": "Event",
            "@context": "/contexts/event",
            "mainLanguage": self.main_language,
            "name": dict(self.name),
            "calendarType": self.calendar_type,
        }
        if self.calendar_type != "permanent":
            start, end = self.start, self.end
            assert start is not None and end is not None
            body["startDate"] = format_dt(start)
            body["endDate"] = format_dt(end)
        if self.calendar_type in ("single", "multiple"):
            body["subEvent"] = [
                {
                    "id": i,
                    "startDate": format_dt(s),
                    "endDate": format_dt(e),
                    "status": {"type": "Available"},
                    "bookingAvailability": {"type": "Available"},
                }
                for i, (s, e) in enumerate(self.sub_events)
            ]
        body.update(
            {
                "status": {"type": "Available"},
                "bookingAvailability": {"type": "Available"},
                "availableFrom": format_dt(self.available_from),
                "attendanceMode": "offline",
                "location": {
                    "@id": place_iri(self.place_id),
                    "@type": "Place",
                    "mainLanguage": "nl",
                    "name": {"nl": f"Zaal {self.organizer_name}"},
                    "address": {
                        "nl": {
                            "addressCountry": "BE",
                            "addressLocality": locality,
                            "postalCode": postal,
                            "streetAddress": street,
                        }
                    },
                },
                "organizer": {
                    "@id": organizer_iri(self.organizer_id),
                    "@type": "Organizer",
                    "mainLanguage": "nl",
                    "name": {"nl": self.organizer_name},
                },
                "terms": self.terms_json(),
                "audience": {"audienceType": self.audience},
                "languages": [self.main_language],
                "completedLanguages": [self.main_language],
                "typicalAgeRange": "-",
                "created": format_dt(self.created),
                "modified": format_dt(self.modified),
                "workflowStatus": self.workflow_status,
                "sameAs": [f"http://www.uitinvlaanderen.be/agenda/e/{slug}/{self.id}"],
            }
        )
        available_to = self.available_to
        if available_to is not None:
            body["availableTo"] = format_dt(available_to)
        return body


# A seed: (organizer id, title, start) or (organizer id, title, start, eventtype term id).
Seed = tuple[str, str, datetime] | tuple[str, str, datetime, str]


class UitCatalogue:
    """All events of one fake UiTdatabank. ``lock`` guards reads and changes (the server runs in a thread)."""

    def __init__(self, anchor: datetime) -> None:
        self.anchor = anchor
        self.lock = threading.RLock()
        self.events: list[UitEvent] = []
        self.by_id: dict[str, UitEvent] = {}

    def add(self, event: UitEvent) -> UitEvent:
        with self.lock:
            self.events.append(event)
            self.by_id[event.id] = event
        return event

    def organizer_ids(self) -> list[str]:
        with self.lock:
            return sorted({e.organizer_id for e in self.events})


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _typed_by_hand(rng: random.Random, title: str) -> str:
    """The title as a house might type it into UiTdatabank."""
    roll = rng.random()
    if roll < 0.25:
        return title.replace(" - ", " \u2013 ")  # an en dash
    if roll < 0.40:
        return title.upper()
    if roll < 0.55:
        return f"{title}  "
    if roll < 0.65:
        return title.lower()
    return title


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def build_catalogue(
    seeds: Sequence[Seed] = (),
    *,
    seed: int = 11,
    unrelated: int = 40,
    anchor: datetime | None = None,
    decoys: bool = True,
    organizer_names: Mapping[str, str] | None = None,
) -> UitCatalogue:
    """A catalogue holding one UiT event per seeded production plus ``unrelated`` others.

    Seeds with the same organizer and title less than 15 days apart become one ``multiple`` event with a
    sub-event per start. A seed without a term gets a podium event type (theatre, concert, dance) drawn from
    ``seed``. With ``decoys`` some productions also get a ``DELETED`` earlier copy with another type, and some a
    same-day listing of the same title by an unrelated organizer, with another type.
    """
    rng = random.Random(f"uitdatabank-fake/{seed}")  # noqa: S311 - fake data
    now = (anchor or datetime.now(UTC)).astimezone(UTC)
    catalogue = UitCatalogue(now)
    names = dict(organizer_names or {})
    other_organizers = [(_uuid(rng), name) for name in _ORGANIZER_NAMES]
    places: dict[str, tuple[str, tuple[str, str, str]]] = {}

    def organizer_name(org: str) -> str:
        if org not in names:
            names[org] = f"Organisator {len(names) + 1}"
        return names[org]

    def place_of(org: str) -> tuple[str, tuple[str, str, str]]:
        if org not in places:
            places[org] = (_uuid(rng), rng.choice(_VENUES))
        return places[org]

    # group the seeds into productions
    productions: dict[tuple[str, str], list[list[tuple[datetime, str | None]]]] = {}
    for item in seeds:
        org, title, start = item[0], item[1], _aware(item[2])
        term = item[3] if len(item) == 4 else None
        if term is not None and term not in EVENTTYPES:
            raise ValueError(f"unknown eventtype term {term!r}")
        runs = productions.setdefault((org, title), [])
        for run in runs:
            if abs((run[0][0] - start).total_seconds()) < 15 * 86_400 and (term is None or run[0][1] in (None, term)):
                run.append((start, term))
                break
        else:
            runs.append([(start, term)])

    for (org, title), runs in sorted(productions.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        for run in runs:
            run.sort(key=lambda p: p[0])
            term = next((t for _, t in run if t is not None), None) or rng.choices(_PODIUM, _PODIUM_WEIGHTS)[0]
            door = rng.random() < 0.2
            subs = []
            for start, _ in run:
                listed = start - timedelta(minutes=30) if door else start
                subs.append((listed, start + timedelta(minutes=rng.choice((90, 110, 130)))))
            created = min(subs[0][0] - timedelta(days=rng.randint(60, 200)), now - timedelta(days=1))
            themes = list(rng.sample(_THEMES_OF.get(term, ()), k=min(1, len(_THEMES_OF.get(term, ())))))
            place_id, venue = place_of(org)
            event = catalogue.add(
                UitEvent(
                    id=_uuid(rng),
                    name={"nl": _typed_by_hand(rng, title)},
                    organizer_id=org,
                    organizer_name=organizer_name(org),
                    place_id=place_id,
                    venue=venue,
                    calendar_type="multiple" if len(subs) > 1 else "single",
                    sub_events=subs,
                    eventtype=term,
                    themes=themes,
                    workflow_status=rng.choice(("APPROVED", "APPROVED", "READY_FOR_VALIDATION")),
                    created=created,
                    modified=created + timedelta(days=rng.randint(0, 20)),
                )
            )
            if not decoys:
                continue
            other_term = rng.choice([t for t in EVENTTYPES if t != term and t in _THEMES_OF])
            if rng.random() < 0.3:  # re-entered by the house: the old copy is deleted, with another type
                catalogue.add(
                    dataclasses.replace(
                        event,
                        id=_uuid(rng),
                        name={"nl": title},
                        eventtype=other_term,
                        themes=[],
                        workflow_status="DELETED",
                        created=event.created - timedelta(days=3),
                        modified=event.created,
                    )
                )
            if rng.random() < 0.3:  # the same title by another organizer, the same day
                other_org, other_name = rng.choice(other_organizers)
                names.setdefault(other_org, other_name)
                other_place, other_venue = place_of(other_org)
                catalogue.add(
                    dataclasses.replace(
                        event,
                        id=_uuid(rng),
                        name={"nl": title},
                        organizer_id=other_org,
                        organizer_name=other_name,
                        place_id=other_place,
                        venue=other_venue,
                        calendar_type="single",
                        sub_events=[event.sub_events[0]],
                        eventtype=other_term,
                        themes=[],
                        workflow_status="APPROVED",
                    )
                )

    for _ in range(unrelated):
        org, org_name = rng.choice(other_organizers)
        names.setdefault(org, org_name)
        place_id, venue = place_of(org)
        title = rng.choice(_UNRELATED_TITLES)
        kind = rng.choices(("single", "multiple", "periodic", "permanent"), (60, 20, 15, 5))[0]
        day = now + timedelta(days=rng.randint(-700, 120))
        day = day.astimezone(BRUSSELS).replace(hour=rng.choice((14, 19, 20)), minute=0, second=0, microsecond=0)
        if kind == "single":
            subs = [(day, day + timedelta(hours=2))]
        elif kind == "multiple":
            subs = [(day + timedelta(days=7 * k), day + timedelta(days=7 * k, hours=2)) for k in range(3)]
        elif kind == "periodic":
            subs = [(day.replace(hour=10), day.replace(hour=18) + timedelta(days=rng.randint(20, 90)))]
        else:
            subs = []
        term = rng.choice(("0.5.0.0.0", "0.50.6.0.0", "0.3.2.0.0", "0.0.0.0.0", "0.50.4.0.0", "0.52.0.0.0"))
        if kind in ("periodic", "permanent"):
            term = "0.0.0.0.0"
        created = (subs[0][0] if subs else now) - timedelta(days=rng.randint(30, 120))
        created = min(created, now - timedelta(days=1))
        catalogue.add(
            UitEvent(
                id=_uuid(rng),
                name={"nl": title},
                organizer_id=org,
                organizer_name=org_name,
                place_id=place_id,
                venue=venue,
                calendar_type=kind,
                sub_events=subs,
                eventtype=term,
                themes=list(_THEMES_OF.get(term, ())[:1]),
                workflow_status=rng.choices(WORKFLOW_STATUSES, (5, 10, 75, 3, 7))[0],
                created=created,
                modified=created + timedelta(days=rng.randint(0, 10)),
                audience=rng.choices(("everyone", "members", "education"), (90, 5, 5))[0],
            )
        )
    return catalogue


# --------------------------------------------------------------------------------------------------
# searching


_CLAUSE = re.compile(r'\s*(NOT\s+)?([A-Za-z.\\*]+):("(?:[^"\\]|\\.)*"|[^\s"()\[\]{}]+)\s*')
_Q_FIELDS = ("id", "terms.id", "organizer.id", "calendarType", "workflowStatus")


def _parse_q(q: str) -> list[tuple[bool, str, str]]:
    """``field:value`` clauses joined by whitespace or AND, each optionally negated: (negated, field, value)."""
    clauses: list[tuple[bool, str, str]] = []
    pos = 0
    text = q.strip()
    while pos < len(text):
        if text.startswith("AND ", pos):
            pos += 4
            continue
        match = _CLAUSE.match(text, pos)
        if match is None or match.end() == pos:
            raise BadQuery("The q parameter uses syntax that is not supported by the fake (only field:value AND ...)")
        negated, name, value = bool(match.group(1)), match.group(2).replace("\\*", "*"), match.group(3)
        if name not in _Q_FIELDS and not re.fullmatch(r"name\.([a-z]{2}|\*)", name):
            raise BadQuery(f"The q field {name!r} is not supported by the fake")
        if value in ("OR", "TO") or value.startswith("["):
            raise BadQuery("The q parameter uses syntax that is not supported by the fake (only field:value AND ...)")
        if value.startswith('"'):
            value = value[1:-1].replace('\\"', '"')
        clauses.append((negated, name, value.replace("\\", "")))
        pos = match.end()
    return clauses


def _value_matches(wanted: str, actual: str, *, words: bool = False) -> bool:
    if words:
        tokens = re.findall(r"\w+", fold(actual))
        phrase = re.findall(r"\w+", fold(wanted.rstrip("*")))
        if not phrase:
            return True
        if wanted.endswith("*") and len(phrase) == 1:
            return any(t.startswith(phrase[0]) for t in tokens)
        n = len(phrase)
        return any(tokens[i : i + n] == phrase for i in range(len(tokens) - n + 1))
    if wanted.endswith("*"):
        return actual.startswith(wanted[:-1])
    return actual == wanted


def _clause_matches(event: UitEvent, name: str, value: str) -> bool:
    if name == "id":
        return _value_matches(value, event.id)
    if name == "terms.id":
        return any(_value_matches(value, t) for t in (event.eventtype, *event.themes))
    if name == "organizer.id":
        return _value_matches(value, event.organizer_id)
    if name == "calendarType":
        return _value_matches(value, event.calendar_type)
    if name == "workflowStatus":
        return _value_matches(value, event.workflow_status)
    lang = name.split(".", 1)[1]
    names = event.name.values() if lang == "*" else [event.name.get(lang, "")]
    return any(_value_matches(value, n, words=True) for n in names)


def _int_param(params: Mapping[str, str], name: str, default: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0 or value > high:
        raise BadQuery(f'The "{name}" parameter should be between 0 and {high}')
    return value


def _list_param(params: Mapping[str, str], name: str, allowed: Sequence[str]) -> set[str] | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    values = {v.strip() for v in raw.split(",") if v.strip()}
    if "*" in values:
        return set(allowed)
    bad = values - set(allowed)
    if bad:
        raise BadQuery(f'The "{name}" parameter has an invalid value')
    return values


def search(
    catalogue: UitCatalogue, params: Mapping[str, str], term_ids: Sequence[str], now: datetime
) -> tuple[list[UitEvent], int, int]:
    """(the page, totalItems, itemsPerPage) for ``GET /events`` with these query parameters."""
    start = _int_param(params, "start", 0, MAX_START)
    limit = _int_param(params, "limit", DEFAULT_LIMIT, MAX_LIMIT)
    defaults_off = params.get("disableDefaultFilters", "").lower() == "true"

    workflow = _list_param(params, "workflowStatus", WORKFLOW_STATUSES)
    if workflow is None and not defaults_off:
        workflow = set(DEFAULT_WORKFLOW)
    calendar = _list_param(params, "calendarType", CALENDAR_TYPES)
    audience = params.get("audienceType")
    if audience is None and not defaults_off:
        audience = "everyone"
    if audience is not None and audience not in ("everyone", "members", "education", "*"):
        raise BadQuery('The "audienceType" parameter has an invalid value')

    def bound(name: str, default_now: bool) -> datetime | None:
        raw = params.get(name)
        if raw == "*" or (raw is None and (defaults_off or not default_now)):
            return None
        return now if raw is None else parse_dt(raw, name)

    available_from = bound("availableFrom", True)
    available_to = bound("availableTo", True)
    date_from = bound("dateFrom", False)
    date_to = bound("dateTo", False)
    organizer = params.get("organizerId")
    wanted_id = params.get("id")
    clauses = _parse_q(params.get("q", ""))
    sort_key, descending = "created", False
    for key in ("created", "modified"):
        order = params.get(f"sort[{key}]")
        if order is not None:
            if order not in ("asc", "desc"):
                raise BadQuery(f'The "sort[{key}]" parameter should be asc or desc')
            sort_key, descending = key, order == "desc"

    def keep(e: UitEvent) -> bool:
        if workflow is not None and e.workflow_status not in workflow:
            return False
        if calendar is not None and e.calendar_type not in calendar:
            return False
        if audience not in (None, "*") and e.audience != audience:
            return False
        # availableFrom=X: still visible after X; availableTo=Y: already visible before Y
        if available_from is not None and e.available_to is not None and e.available_to < available_from:
            return False
        if available_to is not None and e.available_from > available_to:
            return False
        if (date_from is not None or date_to is not None) and not e.happens_between(date_from, date_to):
            return False
        if organizer is not None and e.organizer_id != organizer:
            return False
        if wanted_id is not None and e.id != wanted_id:
            return False
        if any(t not in (e.eventtype, *e.themes) for t in term_ids):
            return False
        return all(_clause_matches(e, name, value) != negated for negated, name, value in clauses)

    with catalogue.lock:
        hits = [e for e in catalogue.events if keep(e)]
    hits.sort(key=lambda e: (getattr(e, sort_key), e.id), reverse=descending)
    page = hits[start : start + limit]
    return page, len(hits), limit


# --------------------------------------------------------------------------------------------------
# the HTTP app


@dataclass
class _Faults:
    rate_limit: int = 0
    retry_after: float = 1
    server_errors: int = 0


@dataclass
class _AppState:
    catalogue: UitCatalogue
    api_key: str
    client_id: str | None
    faults: _Faults = field(default_factory=_Faults)
    requests: int = 0
    unauthorized: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    not_found: int = 0
    ok: int = 0
    by_path: Counter[str] = field(default_factory=Counter)


def _problem(status: int, kind: str, title: str, detail: str | None = None, **headers: str) -> JSONResponse:
    body: dict[str, Any] = {"type": f"https://api.publiq.be/probs/{kind}", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers or None)


def _authorised(request: Request, state: _AppState) -> bool:
    key = request.headers.get("x-api-key") or request.query_params.get("apiKey")
    if key is not None:
        return key == state.api_key
    client = request.headers.get("x-client-id") or request.query_params.get("clientId")
    return state.client_id is not None and client == state.client_id


def create_app(
    catalogue: UitCatalogue,
    *,
    api_key: str = DEFAULT_API_KEY,
    client_id: str | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """The fake's Starlette app. ``clock`` gives "now" for the default availability filters (default: the
    real time). Order for ``/events``: key check (401), a pending 429, a pending 5xx, then the answer."""
    state = _AppState(catalogue, api_key, client_id)
    now = clock or (lambda: datetime.now(UTC))

    async def events(request: Request) -> Response:
        state.requests += 1
        state.by_path[request.url.path] += 1
        if not _authorised(request, state):
            state.unauthorized += 1
            return _problem(401, "auth/unauthorized", "Unauthorized", "Provide a valid x-api-key header or apiKey.")
        faults = state.faults
        if faults.rate_limit > 0:
            faults.rate_limit -= 1
            state.rate_limited += 1
            retry = faults.retry_after
            return _problem(
                429,
                "rate-limit/too-many-requests",
                "Too Many Requests",
                **{"Retry-After": str(int(retry)) if float(retry).is_integer() else str(retry)},
            )
        if faults.server_errors > 0:
            faults.server_errors -= 1
            state.server_errors += 1
            return _problem(503, "server/unavailable", "Service Unavailable")
        params = {k: v for k, v in request.query_params.multi_items() if k != "termIds[]"}
        term_ids = request.query_params.getlist("termIds[]")
        try:
            page, total, per_page = search(catalogue, params, term_ids, now())
        except BadQuery as exc:
            state.not_found += 1
            return _problem(404, "url/not-found", "Not Found", str(exc))
        embed = request.query_params.get("embed", "").lower() == "true"
        state.ok += 1
        return JSONResponse(
            {
                "@context": HYDRA_CONTEXT,
                "@type": "PagedCollection",
                "itemsPerPage": per_page,
                "totalItems": total,
                "member": [e.to_json() if embed else {"@id": event_iri(e.id), "@type": "Event"} for e in page],
            }
        )

    def control(handler: Callable[[Request], Awaitable[dict[str, Any]]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if not _authorised(request, state):
                return _problem(401, "auth/unauthorized", "Unauthorized")
            try:
                return JSONResponse(await handler(request))
            except BadQuery as exc:
                return _problem(400, "body/invalid-data", "Bad Request", str(exc))

        return endpoint

    async def set_faults(request: Request) -> dict[str, Any]:
        body = await request.json() if (await request.body()).strip() else {}
        if not isinstance(body, dict) or set(body) - {"rate_limit", "retry_after", "server_errors"}:
            raise BadQuery("known fault keys: rate_limit, retry_after, server_errors")
        values: dict[str, Any] = {}
        for name in ("rate_limit", "server_errors"):
            value = body.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise BadQuery(f"{name!r} must be a non-negative integer")
            values[name] = value
        retry = body.get("retry_after", 1)
        if isinstance(retry, bool) or not isinstance(retry, int | float) or retry < 0:
            raise BadQuery("'retry_after' must be a non-negative number")
        state.faults = _Faults(values["rate_limit"], retry, values["server_errors"])
        return {"faults": body}

    async def stats(request: Request) -> dict[str, Any]:
        with catalogue.lock:
            count = len(catalogue.events)
        return {
            "requests": state.requests,
            "ok": state.ok,
            "unauthorized": state.unauthorized,
            "rate_limited": state.rate_limited,
            "server_errors": state.server_errors,
            "not_found": state.not_found,
            "by_path": dict(sorted(state.by_path.items())),
            "events": count,
        }

    async def not_found(request: Request) -> Response:
        return _problem(404, "url/not-found", "Not Found", f"No route for {request.url.path}")

    routes = [
        Route("/events", events, methods=["GET"]),
        Route("/events/", events, methods=["GET"]),
        Route("/_fake/faults", control(set_faults), methods=["POST"]),
        Route("/_fake/stats", control(stats), methods=["GET"]),
        Route("/{rest:path}", not_found),
    ]
    app = Starlette(routes=routes)
    app.state.fake = state
    return app


# --------------------------------------------------------------------------------------------------
# running it


def main(
    host: str = "127.0.0.1", port: int = 8020, seed: int = 11, unrelated: int = 200, api_key: str = DEFAULT_API_KEY
) -> None:
    """Serve a catalogue of unrelated events only (blocking); tests and the demo seed their own."""
    uvicorn.run(create_app(build_catalogue(seed=seed, unrelated=unrelated), api_key=api_key), host=host, port=port)


def _cli(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake UiTdatabank Search API with fictional events.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8020)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--unrelated", type=int, default=200)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    args = parser.parse_args(argv)
    main(args.host, args.port, args.seed, args.unrelated, args.api_key)


if __name__ == "__main__":
    _cli()
