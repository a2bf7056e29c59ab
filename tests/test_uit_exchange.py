"""The UiT connectors end to end on SQLite and PostgreSQL: a fake Tixly synced into a hub, its events
classified against the fake UiTdatabank, and the participation export for the UiT exchange platform
validated with pyshacl against the platform's OSLO Cultuurparticipatie shapes, with no personal data or
engine id in it, only consenting people, fresh pseudonyms per export and an audit trail."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pyshacl import validate
from rdflib import RDF, Graph, URIRef
from rdflib.namespace import DCTERMS, SKOS

from connectors.sources import tixly
from connectors.sources.base import FatalSyncError, RetryPolicy
from connectors.uit.classify import BRUSSELS, CONCERT, DANCE, THEATRE, UitSearch, classify_events, normalise_title
from connectors.uit.participation import ADMS, CP, PLATFORM, SHAPES_FILE, export_participation
from consent_hub.config import ConnectorConfig
from consent_hub.consent.service import ConsentService
from consent_hub.houses.service import HouseService
from consent_hub.people.service import PeopleService
from fakes import tixly as fake_tixly
from fakes import uitdatabank as fake_uit
from fakes.server import RunningServer, serve_in_thread
from tests.conftest import Hub
from tests.factories import notice_sha256

TOKEN = "tixly-test-token"
KEY = "uit-test-key"
BASE = "https://data.example.org/consent-hub"
HOUSES = {1001: "schouwburg-leie", 1002: "concertzaal-ijzer", 1003: "theater-vlasmarkt", 1004: "cc-de-brug"}
# the houses' UiTdatabank organizer ids; cc-de-brug has none (its events can only fall back)
ORGANIZERS = {slug: str(uuid.uuid5(uuid.NAMESPACE_URL, f"organizer/{slug}")) for slug in list(HOUSES.values())[:3]}
FAST = RetryPolicy(max_attempts=8, base=0.01, cap=0.05)
# the brief's fallback table, written out independently of the connector's
FALLBACK = {"Theater": THEATRE, "Comedy": THEATRE, "Dans": DANCE, "Concert": CONCERT, "Muziek": CONCERT}
FALLBACK |= {"Klassiek": CONCERT, "Jazz": CONCERT, "Circus": "0.52.0.0.0"}
LISTED_TYPES = (THEATRE, DANCE, CONCERT, "0.5.0.0.0")
SHAPES = Graph().parse(SHAPES_FILE, format="turtle")


@pytest.fixture(scope="module")
def world() -> fake_tixly.TixlyWorld:
    return fake_tixly.build_world(seed=7, size="test")


@pytest.fixture(scope="module")
def engine(world: fake_tixly.TixlyWorld) -> Iterator[RunningServer]:
    with serve_in_thread(fake_tixly.create_app(world, token=TOKEN)) as server:
        yield server


def listed(event: fake_tixly.Event) -> bool:
    """Which Tixly performances their house also listed in UiTdatabank (about two in three)."""
    return HOUSES[event.org] in ORGANIZERS and event.id % 3 != 0


def listed_type(title: str) -> str:
    """The type the house gave a title in UiTdatabank: often not what the engine's category says."""
    return LISTED_TYPES[sum(map(ord, title)) % len(LISTED_TYPES)]


def start_of(event: fake_tixly.Event) -> dt.datetime:
    return dt.datetime.fromtimestamp(event.start / 1000, dt.UTC)


@pytest.fixture(scope="module")
def catalogue(world: fake_tixly.TixlyWorld) -> fake_uit.UitCatalogue:
    seeds: list[fake_uit.Seed] = [
        (ORGANIZERS[HOUSES[e.org]], e.name, start_of(e), listed_type(e.name)) for e in world.events if listed(e)
    ]
    return fake_uit.build_catalogue(seeds, seed=3, unrelated=60)


@pytest.fixture(scope="module")
def uit(catalogue: fake_uit.UitCatalogue) -> Iterator[RunningServer]:
    with serve_in_thread(fake_uit.create_app(catalogue, api_key=KEY)) as server:
        yield server


@pytest.fixture
def town(hub: Hub, engine: RunningServer) -> Hub:
    """Cluster alpha with four houses and the fake Tixly synced into it."""
    actor = hub.actor()
    with hub.uow() as uow:
        ConsentService(uow).sync_notices(actor)
        for org, slug in HOUSES.items():
            HouseService(uow).add(
                actor,
                {
                    "slug": slug,
                    "name": slug.replace("-", " ").title(),
                    "tixly_organisation_id": str(org),
                    "uitdatabank_organizer_id": ORGANIZERS.get(slug),
                },
            )
    cfg = ConnectorConfig(kind="tixly", base_url=f"{engine.url}/v3", token=TOKEN, page_size=100)
    outcome = tixly.sync(hub.registry, "alpha", "tixly", cfg, policy=FAST)
    assert outcome.status == "succeeded", outcome.error
    return hub


def classify(hub: Hub, uit: RunningServer, **options: Any) -> Any:
    return classify_events(
        hub.registry, "alpha", base_url=uit.url, api_key=options.pop("api_key", KEY), policy=FAST, **options
    )


def uid(value: Any) -> str:
    """A UUID as text whatever the backend returns (SQLite keeps 32 hex digits)."""
    return str(uuid.UUID(str(value)))


def expected_types(hub: Hub, world: fake_tixly.TixlyWorld) -> dict[str, tuple[str | None, str | None]]:
    """hub event id -> (expected type, where from), worked out from the seeds and the categories."""
    keys: dict[tuple[int, str, dt.date], str] = {}
    for e in world.events:
        if listed(e):
            keys[(e.org, normalise_title(e.name), start_of(e).astimezone(BRUSSELS).date())] = listed_type(e.name)
    out: dict[str, tuple[str | None, str | None]] = {}
    for event_id, external, title, starts, categories in hub.sql(
        "SELECT id, external_id, title, starts_at, categories FROM events"
    ):
        org = world.event_by_id[int(external)].org
        moment = starts if isinstance(starts, dt.datetime) else dt.datetime.fromisoformat(starts)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        term = keys.get((org, normalise_title(title), moment.astimezone(BRUSSELS).date()))
        if term is not None:
            out[uid(event_id)] = (term, "uitdatabank")
        else:
            fallback = next((FALLBACK[c] for c in json.loads(categories) if c in FALLBACK), None)
            out[uid(event_id)] = (fallback, "category" if fallback else None)
    return out


def stored_types(hub: Hub) -> dict[str, str | None]:
    return {uid(e): t for e, t in hub.sql("SELECT id, uit_event_type FROM events")}


def test_classification_takes_the_uit_type_and_falls_back_on_categories(
    town: Hub, uit: RunningServer, world: fake_tixly.TixlyWorld, catalogue: fake_uit.UitCatalogue
) -> None:
    expected = expected_types(town, world)
    summary = classify(town, uit)

    assert {str(k): (d.term, d.source) for k, d in summary.decisions.items()} == expected
    assert stored_types(town) == {k: term for k, (term, _) in expected.items()}
    sources = Counter(source for _, source in expected.values())
    assert (summary.matched, summary.fallback, summary.unclassified) == (
        sources["uitdatabank"],
        sources["category"],
        sources[None],
    )
    assert summary.matched > 10 and summary.fallback > 10 and summary.unclassified > 0, summary
    assert summary.ambiguous == 0
    # themes come with a listing: each is one its listings carry, and a type from categories carries none
    themes = {uid(e): json.loads(t) for e, t in town.sql("SELECT id, uit_themes FROM events")}
    organizer_of = {
        uid(e): o
        for e, o in town.sql("SELECT e.id, h.uitdatabank_organizer_id FROM events e JOIN houses h ON h.id = e.house_id")
    }
    titles = {uid(e): normalise_title(t) for e, t in town.sql("SELECT id, title FROM events")}
    for event_id, (_term, source) in expected.items():
        if source != "uitdatabank":
            assert themes[event_id] == [], event_id
            continue
        listed_themes = {
            t
            for e in catalogue.events
            if e.organizer_id == organizer_of[event_id] and normalise_title(e.name["nl"]) == titles[event_id]
            for t in e.themes
        }
        assert set(themes[event_id]) <= listed_themes
    assert sum(1 for t in themes.values() if t) > 5
    # the listing decided, not the category: some matched events got a type their categories do not give
    categories = {uid(e): json.loads(c) for e, c in town.sql("SELECT id, categories FROM events")}
    overruled = [
        k
        for k, (term, source) in expected.items()
        if source == "uitdatabank" and term != next((FALLBACK[c] for c in categories[k] if c in FALLBACK), None)
    ]
    assert len(overruled) > 5
    # in the way, with other types: deleted copies, other organizers' listings of the same titles, productions
    # listed as one event with a sub-event per performance
    ours = set(ORGANIZERS.values())
    assert any(e.workflow_status == "DELETED" and e.organizer_id in ours for e in catalogue.events)
    assert any(e.organizer_id not in ours and listed_type(e.name["nl"]) != e.eventtype for e in catalogue.events)
    assert any(e.calendar_type == "multiple" and e.organizer_id in ours for e in catalogue.events)
    assert 0 < summary.uit_events_read < summary.matched
    assert town.sql("SELECT count(*) FROM audit_entries WHERE action = 'events.classify'") == [(1,)]

    again = classify(town, uit)  # only the still unclassified events are looked at again
    assert again.total == summary.unclassified and again.matched == again.fallback == 0
    everything = classify(town, uit, only_unclassified=False)
    assert (everything.matched, everything.fallback, everything.total) == (
        summary.matched,
        summary.fallback,
        len(expected),
    )
    assert stored_types(town) == {k: term for k, (term, _) in expected.items()}


def test_classification_retries_429_and_5xx_and_a_refused_key_is_fatal(
    town: Hub, uit: RunningServer, world: fake_tixly.TixlyWorld
) -> None:
    control = httpx.Client(base_url=uit.url, headers={"x-api-key": KEY}, timeout=10)
    try:
        with pytest.raises(FatalSyncError, match="authentication refused"):
            classify(town, uit, api_key="wrong-key")
        assert all(t is None for t in stored_types(town).values())

        control.post("/_fake/faults", json={"rate_limit": 2, "retry_after": 0, "server_errors": 3}).raise_for_status()
        summary = classify(town, uit, page_size=2)  # paged
        assert summary.retries == 5 and summary.requests > len(ORGANIZERS)
        assert stored_types(town) == {k: term for k, (term, _) in expected_types(town, world).items()}
    finally:
        control.post("/_fake/faults", json={})
        control.close()


def test_a_window_with_more_results_than_start_can_reach_is_split() -> None:
    """More than 10,000 hits: the window is halved until each half can be paged through."""
    asked: list[tuple[str, str, int]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        lo = dt.datetime.fromisoformat(request.url.params["dateFrom"])
        hi = dt.datetime.fromisoformat(request.url.params["dateTo"])
        start = int(request.url.params["start"])
        asked.append((lo.date().isoformat(), hi.date().isoformat(), start))
        days = (hi - lo).days + 1
        total = 2_000 * days  # 2,000 events a day
        count = max(0, min(int(request.url.params["limit"]), total - start))
        return httpx.Response(200, json={"itemsPerPage": 2000, "totalItems": total, "member": [{}] * count})

    with UitSearch("http://uit.invalid", KEY, policy=FAST, page_size=2000, transport=httpx.MockTransport(answer)) as s:
        lo = dt.datetime(2025, 3, 1, tzinfo=BRUSSELS)
        hi = dt.datetime(2025, 3, 8, 23, 59, 59, tzinfo=BRUSSELS)
        assert sum(1 for _ in s.events("org", lo, hi)) == 8 * 2_000
    first, second = ("2025-03-01", "2025-03-04"), ("2025-03-05", "2025-03-08")
    assert asked == [("2025-03-01", "2025-03-08", 0)] + [
        (*half, n) for half in (first, second) for n in range(0, 8000, 2000)
    ]


# --------------------------------------------------------------------------------------------------
# the participation export


def buyers(hub: Hub) -> list[uuid.UUID]:
    rows = hub.sql("SELECT DISTINCT person_id FROM sales WHERE person_id IS NOT NULL AND ticket_count > 0")
    return sorted((uuid.UUID(str(p)) for (p,) in rows), key=str)


def decide(hub: Hub, person: uuid.UUID, status: str) -> None:
    notice = notice_sha256("audience-research")
    with hub.uow() as uow:
        ConsentService(uow).record(
            hub.actor(),
            person,
            {
                "purpose": "audience-research",
                "target": "uit-platform",
                "status": status,
                "language": "nl",
                "channel": "web",
                "notice_sha256": notice,
            },
        )


@pytest.fixture
def consenting(town: Hub, uit: RunningServer) -> dict[str, list[uuid.UUID]]:
    """Five buyers said yes, one no, one yes and then withdrew; events are classified."""
    people = buyers(town)
    groups = {"granted": people[:5], "refused": people[5:6], "withdrawn": people[6:7]}
    for person in groups["granted"]:
        decide(town, person, "granted")
    decide(town, groups["refused"][0], "refused")
    decide(town, groups["withdrawn"][0], "granted")
    decide(town, groups["withdrawn"][0], "withdrawn")
    classify(town, uit)
    return groups


def conforms(turtle: str) -> tuple[bool, str]:
    ok, _, text = validate(Graph().parse(data=turtle, format="turtle"), shacl_graph=SHAPES, inference="none")
    return bool(ok), str(text)


def participants(graph: Graph) -> list[URIRef]:
    return sorted(s for s in graph.subjects(RDF.type, CP.Participant) if isinstance(s, URIRef))


def test_the_export_conforms_to_the_uwp_shapes(town: Hub, consenting: dict[str, list[uuid.UUID]]) -> None:
    turtle, summary = export_participation(town.registry, "alpha", base_iri=BASE)
    ok, report = conforms(turtle)
    assert ok, report
    graph = Graph().parse(data=turtle, format="turtle")
    assert summary.participants == len(participants(graph)) == 5
    assert summary.participations == len(set(graph.subjects(RDF.type, CP.Deelname))) > 5
    assert summary.with_birth_year > 0 and summary.with_sector > 0
    # a participant carries its identifier, processing time, birth year and sector, nothing else
    allowed = {RDF.type, ADMS.identifier, PLATFORM.verwerktOp, PLATFORM.geboortejaar}
    allowed |= {PLATFORM.statistischeSectorId, PLATFORM.statistischeSectorNaam}
    for participant in participants(graph):
        assert set(graph.predicates(participant)) <= allowed
        assert str(participant).startswith(f"{BASE}/id/participant/")
    concept = "https://data.cultuurparticipatie.be/id/concept/"
    codes = set(graph.objects(None, DCTERMS.type)) | set(graph.objects(None, CP["Cultuurdeelname.typeActiviteit"]))
    assert set(map(str, codes)) >= {
        f"{concept}DeelnameType/toeschouwer",
        f"{concept}ParticipantType/natuurlijkPersoon",
        f"{concept}ActiviteitType/theatervoorstelling",
    }
    # the shapes do not check code-list membership (class checks on concepts are off): every code is a concept
    # of the copied UWP code lists
    lists = Graph()
    for name in ("DeelnameType", "ParticipantType", "Activiteittype"):
        lists.parse(SHAPES_FILE.parent / f"{name}.ttl", format="turtle")
    assert all((code, RDF.type, SKOS.Concept) in lists for code in codes)

    # the shapes are really applied: a participant without its processing time does not conform
    broken = Graph().parse(data=turtle, format="turtle")
    broken.remove((participants(broken)[0], PLATFORM.verwerktOp, None))
    ok, report = conforms(broken.serialize(format="turtle"))
    assert not ok and "verwerktOp" in report


UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def tokens(text: str) -> set[str]:
    """The words and numbers of a text, a UUID counting as one word (its groups are not numbers)."""
    found = {u.casefold() for u in UUID_TEXT.findall(text)}
    return found | {t.casefold() for t in re.findall(r"[^\W_]+", UUID_TEXT.sub(" ", text))}


def test_the_export_holds_no_personal_data_and_no_engine_id(
    town: Hub, consenting: dict[str, list[uuid.UUID]], world: fake_tixly.TixlyWorld
) -> None:
    turtle, summary = export_participation(town.registry, "alpha", base_iri=BASE)
    assert summary.participants == 5
    words = tokens(turtle)
    lowered = turtle.casefold()
    title_words = set().union(*(tokens(t) for (t,) in town.sql("SELECT title FROM events")))

    # what the fake engine knows about every buyer
    for c in world.customers.values():
        for value in (c.email, c.mobile, f"{c.first_name} {c.last_name}", f"{c.street} {c.house_number}"):
            assert value is None or value.casefold() not in lowered, value
        assert c.zip_code.casefold() not in words
        assert not ({c.last_name.casefold(), c.first_name.casefold()} - title_words) & words, c.id
    # what the hub holds about the people it exported
    with town.uow() as uow:
        views = PeopleService(uow).read(town.actor(), consenting["granted"], purpose="audience-research")
    for view in views:
        # (not the city: a statistical sector's name names its municipality, e.g. KORTRIJK-CENTRUM)
        for name in ("email", "phone", "street_address", "birth_date"):
            value = view.fields.get(name)
            assert value is None or value.casefold() not in lowered, name
        # a name may also be a word of an event title (a buyer Sofie, a concert "Sofie Raes Trio")
        for name in ("given_name", "family_name"):
            assert not (tokens(view.fields.get(name) or "") - title_words) & words, name
        assert (view.fields.get("postal_code") or "").casefold() not in words
    # no hub person id, no engine id
    for (person,) in town.sql("SELECT id FROM people"):
        assert uid(person) not in turtle and uuid.UUID(str(person)).hex not in lowered
    engine_ids = {str(x) for (x,) in town.sql("SELECT external_id FROM engine_customers")}
    engine_ids |= {str(x) for (x,) in town.sql("SELECT external_id FROM events")}
    for external, order in town.sql("SELECT external_id, order_ref FROM sales"):
        engine_ids |= {str(external), str(order)}
    assert not engine_ids & words
    # the events are named by their hub id
    hub_events = {uid(e) for (e,) in town.sql("SELECT id FROM events")}
    graph = Graph().parse(data=turtle, format="turtle")
    activities = {str(o) for o in graph.objects(None, CP["Deelname.activiteit"])}
    assert activities and {a.removeprefix(f"{BASE}/id/activiteit/") for a in activities} <= hub_events


def test_only_consenting_people_are_exported(town: Hub, consenting: dict[str, list[uuid.UUID]]) -> None:
    turtle, summary = export_participation(town.registry, "alpha", base_iri=BASE)
    graph = Graph().parse(data=turtle, format="turtle")

    def attended(people: list[uuid.UUID]) -> Counter[tuple[str | None, frozenset[str]]]:
        with town.uow() as uow:
            views = PeopleService(uow).read(town.actor(), people, purpose="audience-research", fields=["birth_date"])
        years = {v.id: (v.fields["birth_date"][:4] if v.fields.get("birth_date") else None) for v in views}
        events: dict[uuid.UUID, set[str]] = {p: set() for p in people}
        for person, event in town.sql(
            # a return is its own negative line: an event whose tickets were all returned was not attended
            "SELECT s.person_id, s.event_id FROM sales s JOIN events e ON e.id = s.event_id "
            "WHERE s.person_id IS NOT NULL AND e.starts_at IS NOT NULL "
            "GROUP BY s.person_id, s.event_id HAVING SUM(s.ticket_count) > 0"
        ):
            if uuid.UUID(str(person)) in events:
                events[uuid.UUID(str(person))].add(uid(event))
        return Counter((years[p], frozenset(events[p])) for p in people)

    exported: Counter[tuple[str | None, frozenset[str]]] = Counter()
    for participant in participants(graph):
        year = graph.value(participant, PLATFORM.geboortejaar)
        events = frozenset(
            str(graph.value(d, CP["Deelname.activiteit"])).removeprefix(f"{BASE}/id/activiteit/")
            for d in graph.subjects(CP["Deelname.participant"], participant)
        )
        exported[(None if year is None else str(year), events)] += 1

    granted = attended(consenting["granted"])
    assert exported == granted
    # no one else's (birth year, events) is written, unless a consenting person happens to have the
    # same one (the fictional town gives several people one event and no birth date)
    others = attended(consenting["refused"] + consenting["withdrawn"])
    assert not (set(others) - set(granted)) & set(exported)

    # a period in which nobody attended anything: consenting people without a participation are not written
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=3650)
    turtle, summary = export_participation(town.registry, "alpha", base_iri=BASE, since=future)
    assert summary.participants == 0 and summary.consenting_without_participation == 5
    assert not participants(Graph().parse(data=turtle, format="turtle"))


def test_pseudonyms_differ_between_exports_and_exports_are_audited(
    town: Hub, consenting: dict[str, list[uuid.UUID]]
) -> None:
    seq = town.sql("SELECT coalesce(max(seq), 0) FROM audit_entries")[0][0]
    first, one = export_participation(town.registry, "alpha", base_iri=BASE)
    second, two = export_participation(town.registry, "alpha", base_iri=BASE)
    a, b = (set(participants(Graph().parse(data=t, format="turtle"))) for t in (first, second))
    assert len(a) == len(b) == 5 and not a & b
    assert one.export_id != two.export_id

    entries = town.sql(
        "SELECT action, purpose, subjects, fields, detail FROM audit_entries WHERE seq > :s ORDER BY seq", s=seq
    )
    assert [(action, purpose) for action, purpose, *_ in entries] == [
        ("people.read", "audience-research"),
        ("exchange.export", "audience-research"),
    ] * 2
    granted = sorted(map(str, consenting["granted"]))
    for action, _, subjects, fields, detail in entries:
        if action == "people.read":
            assert sorted(json.loads(subjects)) == granted
            assert sorted(json.loads(fields)) == ["birth_date", "postal_code"]
        else:
            assert json.loads(detail)["recipient"] == "uit-platform" and json.loads(detail)["participants"] == 5
    exported = {json.loads(d)["export"] for action, *_, d in entries if action == "exchange.export"}
    assert exported == {one.export_id, two.export_id}
