"""The fake UiTdatabank's world: a catalogue of fictional events (seeded ones and unrelated ones) and
their JSON-LD shape."""

from __future__ import annotations

import dataclasses
import random
import re
import threading
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

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
    builder = _CatalogueBuilder(rng, UitCatalogue(now), dict(organizer_names or {}))
    for (org, title), runs in sorted(_productions(seeds).items(), key=lambda kv: (kv[0][0], kv[0][1])):
        for run in runs:
            event, term = builder.add_production(org, title, run)
            if decoys:
                builder.add_decoys(event, title, term)
    for _ in range(unrelated):
        builder.add_unrelated()
    return builder.catalogue


# a production's performances: (start, term or None), in seed order
_Run = list[tuple[datetime, str | None]]


def _productions(seeds: Sequence[Seed]) -> dict[tuple[str, str], list[_Run]]:
    """The seeds grouped by (organizer, title) into runs of starts less than 15 days apart (with one term)."""
    productions: dict[tuple[str, str], list[_Run]] = {}
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
    return productions


class _CatalogueBuilder:
    """The catalogue being filled, with the organizer names and places handed out so far. One generator
    draws everything, in call order, so the same seed gives the same catalogue."""

    def __init__(self, rng: random.Random, catalogue: UitCatalogue, names: dict[str, str]) -> None:
        self.rng = rng
        self.catalogue = catalogue
        self.names = names
        self.other_organizers = [(_uuid(rng), name) for name in _ORGANIZER_NAMES]
        self.places: dict[str, tuple[str, tuple[str, str, str]]] = {}

    def organizer_name(self, org: str) -> str:
        if org not in self.names:
            self.names[org] = f"Organisator {len(self.names) + 1}"
        return self.names[org]

    def place_of(self, org: str) -> tuple[str, tuple[str, str, str]]:
        if org not in self.places:
            self.places[org] = (_uuid(self.rng), self.rng.choice(_VENUES))
        return self.places[org]

    def add_production(self, org: str, title: str, run: _Run) -> tuple[UitEvent, str]:
        """The run as one event (``multiple`` when it has several starts); the event and its term."""
        rng, now = self.rng, self.catalogue.anchor
        run.sort(key=lambda p: p[0])
        term = next((t for _, t in run if t is not None), None) or rng.choices(_PODIUM, _PODIUM_WEIGHTS)[0]
        door = rng.random() < 0.2
        subs = []
        for start, _ in run:
            listed = start - timedelta(minutes=30) if door else start
            subs.append((listed, start + timedelta(minutes=rng.choice((90, 110, 130)))))
        created = min(subs[0][0] - timedelta(days=rng.randint(60, 200)), now - timedelta(days=1))
        themes = list(rng.sample(_THEMES_OF.get(term, ()), k=min(1, len(_THEMES_OF.get(term, ())))))
        place_id, venue = self.place_of(org)
        event = self.catalogue.add(
            UitEvent(
                id=_uuid(rng),
                name={"nl": _typed_by_hand(rng, title)},
                organizer_id=org,
                organizer_name=self.organizer_name(org),
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
        return event, term

    def add_decoys(self, event: UitEvent, title: str, term: str) -> None:
        """Now and then a deleted earlier copy of ``event``, and a same-day listing by another organizer."""
        rng = self.rng
        other_term = rng.choice([t for t in EVENTTYPES if t != term and t in _THEMES_OF])
        if rng.random() < 0.3:  # re-entered by the house: the old copy is deleted, with another type
            self.catalogue.add(
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
            other_org, other_name = rng.choice(self.other_organizers)
            self.names.setdefault(other_org, other_name)
            other_place, other_venue = self.place_of(other_org)
            self.catalogue.add(
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

    def add_unrelated(self) -> None:
        """An event of an unrelated organizer: single, weekly, periodic or permanent."""
        rng, now = self.rng, self.catalogue.anchor
        org, org_name = rng.choice(self.other_organizers)
        self.names.setdefault(org, org_name)
        place_id, venue = self.place_of(org)
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
        self.catalogue.add(
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
