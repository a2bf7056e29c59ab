"""Segment counts from bitmaps (PostgreSQL) give the SQL statement's answer, to the person.

A fictional cluster synced from the fake Tixly, its events given UiT event types at random. For
many definitions and callers the bitmap count is held against the SQL statement; then the
changes that must reach a count at once (a withdrawal, an erasure, an expiry) and the ones that
wait for a refresh (new ticket lines: the count falls back to the statement meanwhile).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from connectors.sources import tixly
from connectors.sources.base import RetryPolicy
from consent_hub import roles
from consent_hub.access.service import AccessService
from consent_hub.actors import Actor
from consent_hub.audiences.bitmaps import SegmentBitmaps, answerable
from consent_hub.audiences.repository import AudienceRepository
from consent_hub.audiences.schemas import SegmentFilters
from consent_hub.clock import utcnow
from consent_hub.config import ConnectorConfig
from consent_hub.consent.schemas import ConsentRecord
from consent_hub.consent.service import ConsentService
from consent_hub.houses.service import HouseService
from consent_hub.rights.service import RightsService
from fakes import tixly as fake_tixly
from fakes.server import serve_in_thread
from tests.conftest import Hub

TOKEN = "tixly-test-token"
HOUSES = {"1001": "schouwburg-leie", "1002": "concertzaal-ijzer", "1003": "theater-vlasmarkt", "1004": "cc-de-brug"}
TYPES = ("0.54.0.0.0", "0.55.0.0.0", "0.50.4.0.0")


@pytest.fixture
def houses(hub: Hub) -> Hub:
    """A PostgreSQL hub with the notices and the fake engine's houses (no sync yet)."""
    if hub.backend != "postgresql":
        pytest.skip("segment bitmaps are PostgreSQL's (SQLite counts with the statement)")
    with hub.uow() as uow:
        ConsentService(uow).sync_notices(hub.actor())
        for org, slug in HOUSES.items():
            HouseService(uow).add(hub.actor(), {"slug": slug, "name": slug, "tixly_organisation_id": org})
    return hub


@contextmanager
def fake_engine() -> Iterator[ConnectorConfig]:
    """A fake Tixly with a small fictional cluster, and the connector configuration that reads it."""
    world = fake_tixly.build_world(seed=11, size="test")
    with serve_in_thread(fake_tixly.create_app(world, token=TOKEN)) as server:
        yield ConnectorConfig(kind="tixly", base_url=f"{server.url}/v3", token=TOKEN, page_size=50)


@pytest.fixture
def cluster(houses: Hub) -> Hub:
    hub = houses
    with fake_engine() as cfg:
        outcome = tixly.sync(hub.registry, "alpha", "tixly", cfg, policy=RetryPolicy(max_attempts=3, base=0.01))
        assert outcome.status == "succeeded", outcome.error
    rng = random.Random(5)
    for (event_id,) in hub.sql("SELECT id FROM events ORDER BY external_id"):
        hub.sql("UPDATE events SET uit_event_type = :t WHERE id = :e", t=rng.choice(TYPES), e=event_id)
    return hub


def caller(house: str) -> Actor:
    return Actor(f"test:marketer-{house}", "alpha", roles.MARKETER, house)


def counts(hub: Hub, actor: Actor, filters: dict[str, Any], purpose: str = "newsletter") -> tuple[int | None, int]:
    """(bitmap count or None, SQL statement count) for the caller."""
    with hub.uow() as uow:
        compiled, scope = AccessService(uow).grant(actor, purpose)
        repo = AudienceRepository(uow.session)
        f = SegmentFilters.model_validate(filters)
        return repo.bitmap_count(f, compiled.bases, scope), repo.statement_count(f, compiled.bases, scope)


def refresh(hub: Hub) -> int:
    with hub.uow() as uow:
        return SegmentBitmaps(uow.session).refresh()


DEFINITIONS: list[dict[str, Any]] = [
    {},
    {"uit_event_types": ["0.54.0.0.0"]},
    {"uit_event_types": ["0.54.0.0.0"], "min_visits": 2},
    {"uit_event_types": ["0.55.0.0.0", "0.50.4.0.0"], "min_visits": 3},
    {"houses": ["schouwburg-leie"], "min_visits": 2},
    {"houses": ["concertzaal-ijzer", "cc-de-brug"]},
    {"houses": ["no-such-house"]},
    {"performance_from": "2025-06-01", "performance_to": "2026-06-30", "min_visits": 2},
    {"performance_from": "2026-01-01", "uit_event_types": ["0.55.0.0.0"], "min_visits": 4},
    {"categories": ["Dans"]},
]


def test_bitmap_counts_equal_the_statement(cluster: Hub) -> None:
    hub = cluster
    assert counts(hub, caller("schouwburg-leie"), {})[0] is None  # nothing refreshed yet: the statement answers
    assert refresh(hub) > 0
    seen_nonzero = 0
    for house in HOUSES.values():
        for filters in DEFINITIONS:
            fast, truth = counts(hub, caller(house), filters)
            assert fast == truth, (house, filters)
            seen_nonzero += truth > 0
    assert seen_nonzero >= 10  # the comparison is not between empty sets
    # breakdowns by house, event type and month of the performance: every cell as the statement's
    cells_seen = 0
    for house in HOUSES.values():
        for filters in DEFINITIONS[:6]:
            for by in ("house", "event_type", "month"):
                with hub.uow() as uow:
                    compiled, scope = AccessService(uow).grant(caller(house), "newsletter")
                    repo = AudienceRepository(uow.session)
                    f = SegmentFilters.model_validate(filters)
                    fast_cells = repo.bitmap_breakdown(f, compiled.bases, scope, by)
                    true_cells = repo.statement_breakdown(f, compiled.bases, scope, by)
                assert fast_cells == true_cells, (house, filters, by)
                cells_seen += len(true_cells[1])
    assert cells_seen >= 30
    # a box-office caller's basis is the customer relation (no consent): keys without expiry
    box_office = Actor("test:box", "alpha", roles.BOX_OFFICE, "schouwburg-leie")
    fast, truth = counts(hub, box_office, {"uit_event_types": ["0.54.0.0.0"]}, purpose="ticketing-service")
    assert fast == truth and truth > 0


def test_filters_beyond_the_event_go_to_the_statement(cluster: Hub) -> None:
    hub = cluster
    refresh(hub)
    for filters in ({"min_spend_cents": 1}, {"ticket_types": ["Volw."]}, {"languages": ["nl"]}, {"min_visits": 5}):
        assert not answerable(SegmentFilters.model_validate(filters))
        assert counts(hub, caller("schouwburg-leie"), filters)[0] is None


def _members(hub: Hub, house: str, filters: dict[str, Any]) -> list[uuid.UUID]:
    with hub.uow() as uow:
        compiled, scope = AccessService(uow).grant(caller(house), "newsletter")
        f = SegmentFilters.model_validate(filters)
        return AudienceRepository(uow.session).members(f, compiled.bases, scope)


def test_a_withdrawal_and_an_erasure_leave_the_count_at_once(cluster: Hub) -> None:
    hub = cluster
    refresh(hub)
    house = max(HOUSES.values(), key=lambda h: counts(hub, caller(h), {})[1])
    members = _members(hub, house, {})
    assert len(members) >= 2
    before = counts(hub, caller(house), {})
    with hub.uow() as uow:
        consents = ConsentService(uow)
        notice = consents.current_notice("newsletter", "nl").sha256
        record = ConsentRecord(
            purpose="newsletter", target=house, status="withdrawn", notice_sha256=notice, language="nl", channel="web"
        )
        consents.record(hub.actor(), members[0], record)
    after_withdrawal = counts(hub, caller(house), {})
    assert after_withdrawal[1] == before[1] - 1
    # the key is marked: the bitmaps do not answer (the statement does, exactly) until a refresh
    assert after_withdrawal[0] is None
    refresh(hub)
    assert counts(hub, caller(house), {}) == (after_withdrawal[1], after_withdrawal[1])
    with hub.uow() as uow:
        RightsService(uow).erase(hub.actor(), members[1], reference="DSR-TEST-1")
    after_erasure = counts(hub, caller(house), {})
    assert after_erasure[1] == before[1] - 2
    assert after_erasure[0] is None
    refresh(hub)
    assert counts(hub, caller(house), {}) == (after_erasure[1], after_erasure[1])


def test_a_key_marked_while_its_bitmap_is_rebuilt_stays_marked(cluster: Hub) -> None:
    """The refresh clears only the marks it read before reading the keys: a mark set after that
    (a writer committing during the rebuild) survives, so a possibly stale bitmap never answers."""
    hub = cluster
    refresh(hub)
    house = max(HOUSES.values(), key=lambda h: counts(hub, caller(h), {})[1])
    key = f"h:{house}:newsletter"
    hub.sql("INSERT INTO access_key_bits_dirty (key) VALUES (:k)", k=key)
    with hub.uow() as uow:
        bitmaps = SegmentBitmaps(uow.session)
        marks = [tuple(r) for r in hub.sql("SELECT id, key FROM access_key_bits_dirty")]
        hub.sql("INSERT INTO access_key_bits_dirty (key) VALUES (:k)", k=key)  # a writer, meanwhile
        bitmaps._rebuild_marked_keys(marks)
    left = [r[0] for r in hub.sql("SELECT id FROM access_key_bits_dirty WHERE key = :k", k=key)]
    assert left and not set(left) & {i for i, _ in marks}
    assert counts(hub, caller(house), {})[0] is None


def test_an_expired_consent_is_not_counted(cluster: Hub) -> None:
    hub = cluster
    refresh(hub)
    house = max(HOUSES.values(), key=lambda h: counts(hub, caller(h), {})[1])
    members = _members(hub, house, {})
    before = counts(hub, caller(house), {})
    past = utcnow() - dt.timedelta(days=1)
    for person in members[:3]:
        hub.sql(
            "UPDATE access_keys SET expires_at = :t WHERE person_id = :p AND key = :k",
            t=past,
            p=person,
            k=f"h:{house}:newsletter",
        )
    after = counts(hub, caller(house), {})
    assert after[1] == before[1] - 3
    assert after[0] == after[1]
    with hub.uow() as uow:  # the cells look past the expired keys too
        compiled, scope = AccessService(uow).grant(caller(house), "newsletter")
        repo = AudienceRepository(uow.session)
        for by in ("house", "event_type", "month"):
            f = SegmentFilters()
            fast = repo.bitmap_breakdown(f, compiled.bases, scope, by)
            assert fast is not None and fast == repo.statement_breakdown(f, compiled.bases, scope, by)
    # the refresh drops the expired keys (and their bits); the counts stay where they are
    refresh(hub)
    assert hub.sql("SELECT count(*) FROM access_keys WHERE expires_at <= now()")[0][0] == 0
    assert counts(hub, caller(house), {}) == after


def test_new_ticket_lines_wait_for_the_refresh_and_the_statement_answers_meanwhile(cluster: Hub) -> None:
    hub = cluster
    refresh(hub)
    house = max(HOUSES.values(), key=lambda h: counts(hub, caller(h), {})[1])
    # a member with n < 4 visits gets one more: a new ticket line for another event
    visits = {
        p: n
        for p, n in hub.sql(
            "SELECT person_id, count(DISTINCT (event_id, house_id)) FROM sales "
            "WHERE person_id IS NOT NULL GROUP BY person_id"
        )
    }
    person = next(p for p in sorted(_members(hub, house, {}), key=str) if visits[p] < 4)
    filters = {"min_visits": visits[person] + 1}
    before = counts(hub, caller(house), filters)
    assert before[0] == before[1]
    seen = {e for (e,) in hub.sql("SELECT event_id FROM sales WHERE person_id = :p", p=person)}
    event_id, house_id = next(
        (e, h) for e, h in hub.sql("SELECT id, house_id FROM events ORDER BY external_id") if e not in seen
    )
    hub.sql(
        "INSERT INTO sales (source, external_id, person_id, house_id, event_id, ticket_count, price, sold_at, channel) "
        "VALUES ('test', :x, :p, :h, :e, 1, 1000, now(), 'online')",
        x=f"t-{uuid.uuid4()}",
        p=person,
        h=house_id,
        e=event_id,
    )
    waiting = counts(hub, caller(house), filters)
    assert waiting[1] == before[1] + 1
    selected_pairs_dirty = waiting[0] is None
    assert selected_pairs_dirty  # the new line's pair is selected by a definition without event filters
    assert refresh(hub) == 1
    assert counts(hub, caller(house), filters) == (before[1] + 1, before[1] + 1)


def test_the_refresh_command_rebuilds_what_changed(cluster: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from consent_hub.cli import app

    hub = cluster
    monkeypatch.setenv("CONSENT_HUB_CONFIG", str(hub.dir / "hub.toml"))
    marked = hub.sql("SELECT count(*) FROM visit_bits_dirty")[0][0]
    assert marked > 0
    first = CliRunner().invoke(app, ["segments-refresh", "--cluster", "alpha"])
    assert first.exit_code == 0, first.output
    assert f"rebuilt: {marked}" in first.output
    assert hub.sql("SELECT count(*) FROM visit_bits_dirty")[0][0] == 0
    again = CliRunner().invoke(app, ["segments-refresh", "--cluster", "alpha"])
    assert "rebuilt: 0" in again.output


def test_a_full_rebuild_repairs_drifted_bitmaps(cluster: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from consent_hub.cli import app

    hub = cluster
    refresh(hub)
    house = max(HOUSES.values(), key=lambda h: counts(hub, caller(h), {})[1])
    truth = counts(hub, caller(house), {})[1]
    # drift, as a load that bypassed the triggers would leave it: the key bitmaps lost
    hub.sql("UPDATE access_key_bits SET bits = bits # bits")
    assert counts(hub, caller(house), {}) == (0, truth)
    monkeypatch.setenv("CONSENT_HUB_CONFIG", str(hub.dir / "hub.toml"))
    result = CliRunner().invoke(app, ["segments-refresh", "--cluster", "alpha", "--all"])
    assert result.exit_code == 0, result.output
    assert counts(hub, caller(house), {}) == (truth, truth)


def test_the_scheduler_refreshes_after_its_runs(houses: Hub) -> None:
    """While the hub serves, a scheduled sync is followed by a refresh of what it marked."""
    from consent_hub.ingest.scheduler import Job, SyncScheduler

    hub = houses
    with fake_engine() as cfg:
        hub.settings.clusters["alpha"].connectors["tixly"] = cfg
        SyncScheduler(hub.settings, hub.registry).run_once(Job("alpha", "tixly", 0, 0))
    assert hub.sql("SELECT count(*) FROM sync_runs WHERE status = 'succeeded'")[0][0] == 1
    assert hub.sql("SELECT count(*) FROM visit_bits")[0][0] > 0
    assert hub.sql("SELECT count(*) FROM visit_bits_dirty")[0][0] == 0
    fast, truth = counts(hub, caller("schouwburg-leie"), {"min_visits": 2})
    assert fast == truth


def test_the_sync_command_refreshes_what_it_marked(houses: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """`consent-hub sync` leaves no event waiting for a refresh (unless told not to): the counts
    after it come from bitmaps that agree with the statement."""
    from typer.testing import CliRunner

    from consent_hub.cli import app

    hub = houses
    config = hub.dir / "hub.toml"
    monkeypatch.setenv("CONSENT_HUB_CONFIG", str(config))
    with fake_engine() as cfg:
        config.write_text(
            config.read_text() + f'\n[clusters.alpha.connectors.tixly]\nkind = "tixly"\nbase_url = "{cfg.base_url}"\n'
            f'token = "{TOKEN}"\npage_size = 50\n'
        )
        skipped = CliRunner().invoke(
            app, ["sync", "--cluster", "alpha", "--connector", "tixly", "--no-refresh-segments"]
        )
        assert skipped.exit_code == 0, skipped.output
        waiting = hub.sql("SELECT count(*) FROM visit_bits_dirty")[0][0]
        assert waiting > 0 and "segment bitmaps rebuilt" not in skipped.output
        result = CliRunner().invoke(app, ["sync", "--cluster", "alpha", "--connector", "tixly"])
    assert result.exit_code == 0, result.output
    assert f"segment bitmaps rebuilt: {waiting}" in result.output
    assert hub.sql("SELECT count(*) FROM visit_bits_dirty")[0][0] == 0
    fast, truth = counts(hub, caller("schouwburg-leie"), {"min_visits": 2})
    assert fast == truth and truth > 0
