"""Give the hub's events their UiT event type (a UiTdatabank ``eventtype`` term such as ``0.55.0.0.0``) and,
when a UiTdatabank listing matches, its themes (``theme`` terms such as ``1.9.2.0.0`` Moderne dans).

For every house with a UiTdatabank organizer id, the connector asks the Search API (``GET /events``) for that
organizer's events in the date window of the hub's events to classify, and matches a hub event to a UiT event
by normalised title (accents, letter case, punctuation and spacing ignored) and start day (in Brussels time;
every ``subEvent`` of a ``multiple`` event counts). A match gives the UiT event's ``eventtype`` term. Without
a match (no organizer id, the house did not list it, or two listings disagree) the engine's category names
decide through ``CATEGORY_TYPES``; an event whose categories name no type (``Familie``, ``Jeugd``) stays
unclassified.

The query lifts the Search API's default availability filters (``availableFrom=*``, ``availableTo=*``: past
performances are no longer "available") and keeps only ``READY_FOR_VALIDATION``/``APPROVED`` events (a
``DELETED`` copy may carry a wrong type). It pages with ``start``/``limit`` sorted by creation, and splits the
date window when more than the 10,000 results ``start`` can reach would match. 429s and 5xxs are retried with
backoff (``connectors.sources.base.EngineHttp``); a refused key is fatal.

Only events are read and written: titles, start times and categories, never a buyer.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

import httpx

from connectors.sources.base import EngineHttp, FatalSyncError, RetryPolicy
from consent_hub.actors import Actor
from consent_hub.clusters import ClusterRegistry
from consent_hub.exchange.service import EventClassificationService

BRUSSELS: Final = ZoneInfo("Europe/Brussels")
MAX_START: Final = 10_000
MAX_LIMIT: Final = 2_000
PUBLISHED: Final = ("READY_FOR_VALIDATION", "APPROVED")

THEATRE, CONCERT, DANCE, CIRCUS = "0.55.0.0.0", "0.50.4.0.0", "0.54.0.0.0", "0.52.0.0.0"
FESTIVAL, FILM, LECTURE = "0.5.0.0.0", "0.50.6.0.0", "0.3.2.0.0"

# The engine's category names (case-insensitive) -> UiT eventtype term; the first category that maps wins.
CATEGORY_TYPES: dict[str, str] = {
    "theater": THEATRE,
    "toneel": THEATRE,
    "comedy": THEATRE,
    "humor": THEATRE,
    "cabaret": THEATRE,
    "kleinkunst": THEATRE,
    "musical": THEATRE,
    "jeugdtheater": THEATRE,
    "figurentheater": THEATRE,
    "dans": DANCE,
    "ballet": DANCE,
    "concert": CONCERT,
    "muziek": CONCERT,
    "klassiek": CONCERT,
    "jazz": CONCERT,
    "pop": CONCERT,
    "rock": CONCERT,
    "wereldmuziek": CONCERT,
    "circus": CIRCUS,
    "festival": FESTIVAL,
    "film": FILM,
    "lezing": LECTURE,
}

Source = Literal["uitdatabank", "category"]


@dataclass(frozen=True)
class Decision:
    term: str | None
    source: Source | None  # None: unclassified
    themes: tuple[str, ...] = ()  # UiT theme terms (``1.x``); only a UiTdatabank listing gives them


@dataclass
class ClassificationSummary:
    matched: int = 0  # typed from a UiTdatabank listing
    fallback: int = 0  # typed from the engine's categories
    unclassified: int = 0
    ambiguous: int = 0  # listings that disagreed on the type (then the categories decided)
    uit_events_read: int = 0
    requests: int = 0
    retries: int = 0
    decisions: dict[uuid.UUID, Decision] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.matched + self.fallback + self.unclassified


def normalise_title(title: str) -> str:
    """``"Mira Valck \u2013 Clubtour  "`` (an en dash) and ``"MIRA VALCK - CLUBTOUR"`` -> ``"mira valck clubtour"``."""
    decomposed = unicodedata.normalize("NFKD", title)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(re.findall(r"[^\W_]+", plain))


def local_day(moment: dt.datetime) -> dt.date:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(BRUSSELS).date()


def category_type(categories: Sequence[str]) -> str | None:
    for name in categories:
        term = CATEGORY_TYPES.get(name.strip().casefold())
        if term is not None:
            return term
    return None


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(BRUSSELS).replace(microsecond=0).isoformat()


def _parse(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=BRUSSELS)


class UitSearch:
    """``GET /events`` of the UiTdatabank Search API with an API key, paged and window-split."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        policy: RetryPolicy | None = None,
        page_size: int = 500,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not 1 <= page_size <= MAX_LIMIT:
            raise ValueError(f"page_size must be between 1 and {MAX_LIMIT}")
        self.page_size = page_size
        self.requests = 0
        self.http = EngineHttp(
            base_url,
            timeout=timeout,
            policy=policy or RetryPolicy(),
            headers=lambda _path: {"x-api-key": api_key},
            transport=transport,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> UitSearch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _page(self, organizer_id: str, lo: dt.datetime, hi: dt.datetime, start: int) -> dict[str, Any]:
        params = {
            "organizerId": organizer_id,
            "dateFrom": _iso(lo),
            "dateTo": _iso(hi),
            "availableFrom": "*",
            "availableTo": "*",
            "workflowStatus": ",".join(PUBLISHED),
            "embed": "true",
            "sort[created]": "asc",
            "start": str(start),
            "limit": str(self.page_size),
        }
        self.requests += 1
        body = self.http.get_json("/events", params)
        if not isinstance(body, dict) or not isinstance(body.get("member"), list):
            raise FatalSyncError("UiTdatabank answered without a member list")
        return body

    def events(self, organizer_id: str, lo: dt.datetime, hi: dt.datetime) -> Iterator[dict[str, Any]]:
        """Every published event of the organizer happening in ``[lo, hi]``."""
        first = self._page(organizer_id, lo, hi, 0)
        total = int(first.get("totalItems") or 0)
        if total > MAX_START:
            if hi - lo <= dt.timedelta(days=1):
                raise FatalSyncError(f"more than {MAX_START} UiT events for one organizer on one day")
            middle = lo + dt.timedelta(seconds=(hi - lo).total_seconds() // 2)
            yield from self.events(organizer_id, lo, middle)
            yield from self.events(organizer_id, middle + dt.timedelta(seconds=1), hi)
            return
        page, start = first, 0
        while True:
            members = [m for m in page["member"] if isinstance(m, dict)]
            yield from members
            start += len(page["member"])
            if not page["member"] or start >= total:
                return
            page = self._page(organizer_id, lo, hi, start)


def _terms_of(event: Mapping[str, Any], domain: str) -> list[str]:
    terms = event.get("terms")
    return [
        t["id"]
        for t in (terms if isinstance(terms, list) else [])
        if isinstance(t, dict) and t.get("domain") == domain and isinstance(t.get("id"), str)
    ]


def listing_keys(event: Mapping[str, Any]) -> tuple[str | None, set[tuple[str, dt.date]]]:
    """(eventtype term, {(normalised title, local start day)}) of one UiT event; no keys for a periodic or
    permanent event (not a performance) or one that is not published."""
    if event.get("workflowStatus") not in PUBLISHED:
        return None, set()
    eventtype = next(iter(_terms_of(event, "eventtype")), None)
    if eventtype is None or event.get("calendarType") not in ("single", "multiple"):
        return eventtype, set()
    starts: list[dt.datetime] = []
    subs = event.get("subEvent")
    for sub in subs if isinstance(subs, list) else []:
        if isinstance(sub, dict) and (moment := _parse(sub.get("startDate"))) is not None:
            starts.append(moment)
    if not starts and (moment := _parse(event.get("startDate"))) is not None:
        starts.append(moment)
    names = event.get("name")
    titles = {normalise_title(v) for v in (names.values() if isinstance(names, dict) else []) if isinstance(v, str)}
    return eventtype, {(t, local_day(s)) for t in titles if t for s in starts}


def _organizer_of(event: Mapping[str, Any]) -> str | None:
    organizer = event.get("organizer")
    ref = organizer.get("@id") if isinstance(organizer, dict) else None
    return ref.rstrip("/").rsplit("/", 1)[-1] if isinstance(ref, str) else None


ToClassify = list[tuple[uuid.UUID, str, str, dt.datetime | None, str | None]]
# organizer id -> (normalised title, local day) -> {(eventtype, themes)} of its listings with that title that day
Listings = dict[str, dict[tuple[str, dt.date], set[tuple[str, tuple[str, ...]]]]]


def classify_events(
    registry: ClusterRegistry,
    cluster: str,
    *,
    base_url: str,
    api_key: str,
    only_unclassified: bool = True,
    policy: RetryPolicy | None = None,
    page_size: int = 500,
    timeout: float = 30.0,
    transport: httpx.BaseTransport | None = None,
    actor: Actor | None = None,
) -> ClassificationSummary:
    """Classify the cluster's events (by default only those without a type yet) and store the types.

    Note: the hub keeps the type, not where it came from, so an event typed from its categories is not looked
    up again unless ``only_unclassified=False``.
    """
    actor = actor or Actor.system(cluster, "uit-classify")
    with registry.unit_of_work(cluster) as uow:
        service = EventClassificationService(uow)
        todo = service.events_to_classify(only_unclassified=only_unclassified)
        categories = service.categories([row[0] for row in todo])

    summary = ClassificationSummary()
    by_organizer: dict[str, list[tuple[uuid.UUID, str, dt.datetime]]] = {}
    for event_id, title, _house, starts_at, organizer_id in todo:
        if organizer_id and starts_at is not None:
            by_organizer.setdefault(organizer_id, []).append((event_id, title, starts_at))
    listings: Listings = {}
    if by_organizer:
        with UitSearch(
            base_url, api_key, policy=policy, page_size=page_size, timeout=timeout, transport=transport
        ) as search:
            listings = _read_listings(search, by_organizer, summary)
            summary.requests = search.requests
            summary.retries = search.http.take_retries()

    types, themes = _decide(todo, listings, categories, summary)
    if types:
        with registry.unit_of_work(cluster) as uow:
            EventClassificationService(uow).set_types(actor, types, themes)
    return summary


def _read_listings(
    search: UitSearch,
    by_organizer: Mapping[str, Sequence[tuple[uuid.UUID, str, dt.datetime]]],
    summary: ClassificationSummary,
) -> Listings:
    """Each organizer's published listings in the date window of its hub events, by (title, day)."""
    listings: Listings = {}
    for organizer_id, events in sorted(by_organizer.items()):
        days = [local_day(s) for _, _, s in events]
        lo = dt.datetime.combine(min(days), dt.time(), BRUSSELS)
        hi = dt.datetime.combine(max(days), dt.time(23, 59, 59), BRUSSELS)
        index = listings.setdefault(organizer_id, {})
        for uit_event in search.events(organizer_id, lo, hi):
            summary.uit_events_read += 1
            if _organizer_of(uit_event) != organizer_id:
                continue
            term, keys = listing_keys(uit_event)
            if term is None:
                continue
            listed_themes = tuple(sorted(_terms_of(uit_event, "theme")))
            for key in keys:
                index.setdefault(key, set()).add((term, listed_themes))
    return listings


def _decide(
    todo: ToClassify,
    listings: Listings,
    categories: Mapping[uuid.UUID, Sequence[str]],
    summary: ClassificationSummary,
) -> tuple[dict[uuid.UUID, str], dict[uuid.UUID, tuple[str, ...]]]:
    """One decision per event (counted in ``summary``): the listings' type when they agree, else the
    categories'; returns the types and themes to store."""
    types: dict[uuid.UUID, str] = {}
    themes: dict[uuid.UUID, tuple[str, ...]] = {}
    for event_id, title, _house, starts_at, organizer_id in todo:
        found: set[tuple[str, tuple[str, ...]]] = set()
        if organizer_id and starts_at is not None:
            found = listings.get(organizer_id, {}).get((normalise_title(title), local_day(starts_at)), set())
        found_types = {term for term, _ in found}
        if len(found_types) == 1:
            # listings that agree on the type: their themes together (one listing per language, say)
            decision = Decision(
                next(iter(found_types)), "uitdatabank", tuple(sorted({t for _, ts in found for t in ts}))
            )
            summary.matched += 1
        else:
            summary.ambiguous += len(found_types) > 1
            term = category_type(categories.get(event_id, []))
            decision = Decision(term, "category" if term else None)
            if term:
                summary.fallback += 1
            else:
                summary.unclassified += 1
        summary.decisions[event_id] = decision
        if decision.term is not None:
            types[event_id] = decision.term
            themes[event_id] = decision.themes
    return types, themes
