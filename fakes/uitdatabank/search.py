"""The fake UiTdatabank's search: the query parameters it supports, with the real API's defaults."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from fakes.uitdatabank.world import (
    CALENDAR_TYPES,
    DEFAULT_LIMIT,
    DEFAULT_WORKFLOW,
    MAX_LIMIT,
    MAX_START,
    WORKFLOW_STATUSES,
    BadQuery,
    UitCatalogue,
    UitEvent,
    fold,
    parse_dt,
)

# one ``q`` clause, and the fields a clause may name besides ``name.<language>``
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
