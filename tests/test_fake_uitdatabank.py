"""The fake UiTdatabank Search API over real HTTP: API key, the hydra envelope and paging limits, embedding,
default filters, the date window over sub-events, the ``q`` subset, seeding, determinism and faults."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.uit.classify import normalise_title
from fakes.server import RunningServer, serve_in_thread
from fakes.uitdatabank import (
    EVENTTYPES,
    THEMES,
    UitCatalogue,
    build_catalogue,
    create_app,
)

ANCHOR = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
KEY = "test-key"
ORG = "7c0e4c2e-2f6b-4e59-9d7e-0c3b8f1d2a11"
OTHER = "b1c7a8e2-5d3f-4a69-8e2b-93f4c6d7e812"
EVENT_ID = re.compile(
    r"^https://io\.uitdatabank\.be/event/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)
SEEDS = [
    (ORG, "Het Stille Huis", datetime(2025, 3, 2, 19, 0, tzinfo=UTC), "0.55.0.0.0"),
    (ORG, "Het Stille Huis", datetime(2025, 3, 4, 19, 0, tzinfo=UTC), "0.55.0.0.0"),
    (ORG, "Het Stille Huis", datetime(2025, 3, 6, 19, 0, tzinfo=UTC), "0.55.0.0.0"),
    (ORG, "Mira Valck - Clubtour", datetime(2025, 4, 12, 18, 30, tzinfo=UTC), "0.50.4.0.0"),
    (ORG, "Stroming", datetime(2025, 7, 1, 18, 0, tzinfo=UTC), "0.54.0.0.0"),
    (OTHER, "Kapitein Kaas", datetime(2025, 5, 3, 13, 0, tzinfo=UTC)),
]


def fetch(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/events", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def everything(**params: Any) -> dict[str, Any]:
    return {"availableFrom": "*", "availableTo": "*", "workflowStatus": "*", "audienceType": "*", **params}


def all_members(client: httpx.Client, limit: int, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    start = 0
    while True:
        body = fetch(client, start=start, limit=limit, **params)
        out.extend(body["member"])
        start += limit
        if start >= body["totalItems"]:
            return out


class Fake:
    def __init__(self, catalogue: UitCatalogue, **options: Any) -> None:
        self.catalogue = catalogue
        self.server: RunningServer = serve_in_thread(
            create_app(catalogue, api_key=KEY, clock=lambda: ANCHOR, **options)
        )
        self.client = httpx.Client(base_url=self.server.url, headers={"x-api-key": KEY}, timeout=10)

    def close(self) -> None:
        self.client.close()
        self.server.stop()


@pytest.fixture(scope="module")
def fake() -> Iterator[Fake]:
    f = Fake(build_catalogue(SEEDS, seed=5, unrelated=120, anchor=ANCHOR), client_id="test-client")
    yield f
    f.close()


def test_the_api_key_goes_in_a_header_or_the_query_and_nothing_else_passes(fake: Fake) -> None:
    url = f"{fake.server.url}/events"
    assert httpx.get(url, headers={"x-api-key": KEY}).status_code == 200
    assert httpx.get(url, params={"apiKey": KEY}).status_code == 200
    assert httpx.get(url, headers={"x-client-id": "test-client"}).status_code == 200
    for attempt in (
        httpx.get(url),
        httpx.get(url, headers={"x-api-key": "wrong"}),
        httpx.get(url, params={"apiKey": "wrong"}),
        httpx.get(url, headers={"x-client-id": "someone-else"}),
        httpx.get(url, headers={"Authorization": f"Bearer {KEY}"}),
    ):
        assert attempt.status_code == 401
        assert attempt.headers["content-type"].startswith("application/problem+json")
        assert attempt.json()["type"] == "https://api.publiq.be/probs/auth/unauthorized"


def test_envelope_and_paging_within_the_documented_limits(fake: Fake) -> None:
    body = fetch(fake.client, **everything(limit=7))
    assert body["@context"] == "http://www.w3.org/ns/hydra/context.jsonld"
    assert body["@type"] == "PagedCollection"
    assert body["itemsPerPage"] == 7 and len(body["member"]) == 7
    total = body["totalItems"]
    assert total == len(fake.catalogue.events) > 100
    assert fetch(fake.client)["itemsPerPage"] == 30  # the default limit

    paged = [m["@id"] for m in all_members(fake.client, 13, **everything())]
    assert len(paged) == len(set(paged)) == total
    assert paged == [m["@id"] for m in fetch(fake.client, **everything(limit=2000))["member"]]

    assert fetch(fake.client, start=10000, limit=0)["member"] == []
    for params, detail in (
        ({"start": 10001}, 'The "start" parameter should be between 0 and 10000'),
        ({"limit": 2001}, 'The "limit" parameter should be between 0 and 2000'),
        ({"start": -1}, 'The "start" parameter should be between 0 and 10000'),
        ({"limit": "many"}, 'The "limit" parameter should be between 0 and 2000'),
    ):
        response = fake.client.get("/events", params=params)
        assert response.status_code == 404
        assert response.json() == {
            "type": "https://api.publiq.be/probs/url/not-found",
            "title": "Not Found",
            "status": 404,
            "detail": detail,
        }


def test_members_are_references_unless_embedded(fake: Fake) -> None:
    plain = fetch(fake.client, **everything(limit=5))["member"]
    assert all(set(m) == {"@id", "@type"} and m["@type"] == "Event" and EVENT_ID.match(m["@id"]) for m in plain)

    for event in fetch(fake.client, **everything(limit=2000, embed="true"))["member"]:
        assert EVENT_ID.match(event["@id"])
        assert event["mainLanguage"] == "nl" and event["name"]["nl"]
        assert event["calendarType"] in ("single", "multiple", "periodic", "permanent")
        assert event["workflowStatus"] in ("DRAFT", "READY_FOR_VALIDATION", "APPROVED", "REJECTED", "DELETED")
        assert event["organizer"]["@id"].startswith("https://io.uitdatabank.be/organizers/")
        assert event["location"]["@id"].startswith("https://io.uitdatabank.be/place/")
        assert event["location"]["address"]["nl"]["addressCountry"] == "BE"
        kinds = [t["domain"] for t in event["terms"]]
        assert kinds.count("eventtype") == 1 and set(kinds) <= {"eventtype", "theme"}
        for term in event["terms"]:
            labels = EVENTTYPES if term["domain"] == "eventtype" else THEMES
            assert labels[term["id"]] == term["label"]
        if event["calendarType"] != "permanent":
            start = datetime.fromisoformat(event["startDate"])
            assert start.utcoffset() in (timedelta(hours=1), timedelta(hours=2))  # Brussels time
            assert datetime.fromisoformat(event["endDate"]) >= start
        if event["calendarType"] in ("single", "multiple"):
            subs = event["subEvent"]
            assert (len(subs) == 1) == (event["calendarType"] == "single")
            assert subs[0]["startDate"] == event["startDate"]
        assert event["audience"]["audienceType"] in ("everyone", "members", "education")


def test_default_filters_hide_past_unpublished_and_non_public_events(fake: Fake) -> None:
    events = fake.catalogue.events
    published = {"READY_FOR_VALIDATION", "APPROVED"}
    default = {m["@id"].rsplit("/", 1)[1] for m in all_members(fake.client, 500)}
    visible = {
        e.id
        for e in events
        if e.workflow_status in published
        and e.audience == "everyone"
        and e.available_from <= ANCHOR
        and (e.available_to is None or e.available_to >= ANCHOR)
    }
    assert default == visible
    past = [e for e in events if e.end is not None and e.end < ANCHOR and e.workflow_status in published]
    assert past and not {e.id for e in past} & default
    # lifting the availability filters shows the past, still only published public events
    lifted = {m["@id"].rsplit("/", 1)[1] for m in all_members(fake.client, 500, availableFrom="*", availableTo="*")}
    assert {e.id for e in past if e.audience == "everyone"} <= lifted
    assert all(fake.catalogue.by_id[i].workflow_status in published for i in lifted)
    deleted = {e.id for e in events if e.workflow_status == "DELETED"}
    assert deleted
    shown = {m["@id"].rsplit("/", 1)[1] for m in all_members(fake.client, 500, **everything(workflowStatus="DELETED"))}
    assert shown == deleted
    assert fetch(fake.client, disableDefaultFilters="true")["totalItems"] == len(events)


def test_the_date_window_matches_performances_not_the_span_of_a_production(fake: Fake) -> None:
    base = {"organizerId": ORG, "availableFrom": "*", "availableTo": "*", "embed": "true"}
    on_the_4th = fetch(fake.client, dateFrom="2025-03-04T00:00:00+01:00", dateTo="2025-03-04T23:59:59+01:00", **base)
    (production,) = on_the_4th["member"]
    assert production["calendarType"] == "multiple" and len(production["subEvent"]) == 3
    assert normalise_title(production["name"]["nl"]) == "het stille huis"
    assert production["terms"][0] == {"id": "0.55.0.0.0", "label": "Theatervoorstelling", "domain": "eventtype"}
    between = fetch(fake.client, dateFrom="2025-03-05T00:00:00+01:00", dateTo="2025-03-05T23:59:59+01:00", **base)
    assert between["totalItems"] == 0
    # the same title, typed by hand, and the dance performance later on
    spring = fetch(fake.client, dateFrom="2025-04-01T00:00:00+02:00", dateTo="2025-07-31T00:00:00+02:00", **base)
    names = {normalise_title(m["name"]["nl"]): m["terms"][0]["id"] for m in spring["member"]}
    assert names == {"mira valck clubtour": "0.50.4.0.0", "stroming": "0.54.0.0.0"}
    # another organizer's event is not among them, a permanent event is always in a window
    other = fetch(fake.client, organizerId=OTHER, availableFrom="*", availableTo="*", embed="true")["member"]
    assert [normalise_title(m["name"]["nl"]) for m in other] == ["kapitein kaas"]
    assert other[0]["terms"][0]["id"] in ("0.55.0.0.0", "0.50.4.0.0", "0.54.0.0.0")
    permanent = [e.id for e in fake.catalogue.events if e.calendar_type == "permanent"]
    window = {
        m["@id"].rsplit("/", 1)[1]
        for m in all_members(
            fake.client, 500, dateFrom="2020-01-01T00:00:00Z", dateTo="2020-01-02T00:00:00Z", **everything()
        )
    }
    assert set(permanent) == window


def test_an_unencoded_plus_in_a_date_time_is_invalid(fake: Fake) -> None:
    raw = fake.client.get("/events?dateFrom=2025-03-04T00:00:00+01:00&availableFrom=*&availableTo=*")
    assert raw.status_code == 404 and '"+"' in raw.json()["detail"]
    encoded = fake.client.get("/events?dateFrom=2025-03-04T00:00:00%2B01:00&availableFrom=*&availableTo=*")
    assert encoded.status_code == 200
    assert fake.client.get("/events", params={"dateFrom": "yesterday"}).status_code == 404


def test_a_small_subset_of_advanced_queries(fake: Fake) -> None:
    def ids(q: str) -> set[str]:
        return {m["@id"].rsplit("/", 1)[1] for m in all_members(fake.client, 500, **everything(q=q))}

    events = fake.catalogue.events
    assert ids("terms.id:0.55.0.0.0") == {e.id for e in events if e.eventtype == "0.55.0.0.0"}
    assert ids(f"organizer.id:{ORG} AND NOT workflowStatus:DELETED") == {
        e.id for e in events if e.organizer_id == ORG and e.workflow_status != "DELETED"
    }
    stille = ids('name.nl:"stille huis"')
    assert stille and all("stille huis" in e.name["nl"].casefold() for e in events if e.id in stille)
    assert ids("name.\\*:kapit*") == {e.id for e in events if e.name["nl"].casefold().startswith("kapitein")}
    for unsupported in ("terms.id:0.55.0.0.0 OR terms.id:0.54.0.0.0", "(name.nl:vlas)", "address.nl.postalCode:8500"):
        assert fake.client.get("/events", params={"q": unsupported}).status_code == 404


def test_seeding_is_deterministic_and_follows_the_given_types() -> None:
    one = build_catalogue(SEEDS, seed=5, unrelated=30, anchor=ANCHOR)
    two = build_catalogue(SEEDS, seed=5, unrelated=30, anchor=ANCHOR)
    assert [e.to_json() for e in one.events] == [e.to_json() for e in two.events]
    other = build_catalogue(SEEDS, seed=6, unrelated=30, anchor=ANCHOR)
    assert [e.id for e in other.events] != [e.id for e in one.events]
    # every seed is listed by its organizer, on its day, published, with its type (when given)
    for org, title, start, *term in SEEDS:
        matches = [
            e
            for e in one.events
            if e.organizer_id == org
            and e.workflow_status in ("READY_FOR_VALIDATION", "APPROVED")
            and normalise_title(e.name["nl"]) == normalise_title(title)
            and any(abs(s - start) <= timedelta(minutes=30) for s, _ in e.sub_events)
        ]
        assert len(matches) == 1, title
        assert not term or matches[0].eventtype == term[0]
    without = build_catalogue(SEEDS, seed=5, unrelated=0, anchor=ANCHOR, decoys=False)
    assert len(without.events) == 4  # three performances of one production are one event
    with pytest.raises(ValueError, match="unknown eventtype"):
        build_catalogue([(ORG, "X", ANCHOR, "9.9.9.9.9")])


def test_faults_on_demand_then_answers_again() -> None:
    f = Fake(build_catalogue(SEEDS, seed=5, unrelated=5, anchor=ANCHOR))
    try:
        assert f.client.post("/_fake/faults", json={"rate_limit": 1, "retry_after": 2, "server_errors": 1}).is_success
        limited = f.client.get("/events")
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
        assert f.client.get("/events").status_code == 503
        assert f.client.get("/events").status_code == 200
        assert f.client.post("/_fake/faults", json={"nonsense": 1}).status_code == 400
        assert httpx.post(f"{f.server.url}/_fake/faults", json={}).status_code == 401
        stats = f.client.get("/_fake/stats").json()
        assert (stats["requests"], stats["rate_limited"], stats["server_errors"], stats["ok"]) == (3, 1, 1, 1)
        assert f.client.get("/places").status_code == 404
    finally:
        f.close()
