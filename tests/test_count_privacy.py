"""Shown counts do not tell whether one person is in or out (issue 11, point 3; the guarantee is in
docs/count-privacy.md), on SQLite and PostgreSQL.

The town of tests/test_audiences.py: 30 dance buyers of house A who take A's newsletter. One of
them withdraws and consents again, over and over; A's marketer watches the shown figures.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from typing import Any

import pytest

from consent_hub import roles
from consent_hub.access.service import AccessService
from consent_hub.actors import Actor
from consent_hub.audiences.service import AudienceService
from consent_hub.counts.mechanism import discrete_laplace, scale
from consent_hub.counts.service import BELOW, MIN_COHORT
from consent_hub.errors import PrivacyBudgetExhausted
from tests.conftest import Hub, auth
from tests.factories import person_of_record, record_consent
from tests.test_audiences import DANCE, MARKETER, A, B, build_town

DANCE_SEGMENT = {"name": "dance", "purpose": "newsletter", "filters": {"uit_event_types": [DANCE]}}


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def town(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> tuple[Hub, Any, Clock]:
    refs = build_town(hub)
    clock = Clock()
    monkeypatch.setattr("consent_hub.counts.service.utcnow", clock)
    return hub, person_of_record(hub, refs["dance_a"][0]), clock


def choose(hub: Hub, pid: Any, status: str) -> None:
    record_consent(hub, pid, target=A, status=status)


def shown(hub: Hub) -> tuple[int | str, int | str]:
    """What A's marketer is shown: the dance segment's count and the newsletter people count."""
    with hub.uow() as uow:
        segment = AudienceService(uow).count(MARKETER, DANCE_SEGMENT)["count"]
    with hub.uow() as uow:
        people, _ = AccessService(uow).count(MARKETER, "newsletter")
    return segment, people


def test_within_a_day_a_withdraw_and_reconsent_loop_shows_nothing(town: Any) -> None:
    hub, pid, _ = town
    first = shown(hub)
    for _ in range(3):
        choose(hub, pid, "withdrawn")
        assert shown(hub) == first  # the stored answer: 174 -> 173 -> 174 cannot be watched
        choose(hub, pid, "granted")
        assert shown(hub) == first


def test_across_days_the_loop_is_not_a_deterministic_step(town: Any) -> None:
    hub, pid, clock = town
    hub.settings.clusters["alpha"].count_budget = 1000.0
    steps: dict[str, list[int]] = {"segment": [], "people": []}
    for _ in range(30):
        clock.now += dt.timedelta(days=1)
        before = shown(hub)
        choose(hub, pid, "withdrawn")
        clock.now += dt.timedelta(days=1)
        after = shown(hub)
        choose(hub, pid, "granted")
        for name, b, a in zip(("segment", "people"), before, after, strict=True):
            if isinstance(a, int) and isinstance(b, int):
                steps[name].append(a - b)
    for name, differences in steps.items():
        assert len(differences) >= 25, name
        # the truth steps by exactly -1 every time; what is shown scatters around it
        assert sum(d == -1 for d in differences) < len(differences) // 3, (name, differences)
        assert statistics.pstdev(differences) > 3, (name, differences)


def test_fresh_noise_is_unbiased_and_as_wide_as_documented(town: Any) -> None:
    hub, _, clock = town
    hub.settings.clusters["alpha"].count_budget = 1000.0
    values = []
    for _ in range(80):
        clock.now += dt.timedelta(days=1)
        value, _ = shown(hub)
        assert value == BELOW or value >= MIN_COHORT  # the cohort threshold applies to the noisy value
        if isinstance(value, int):
            values.append(value)
    assert len(values) >= 75 and len(set(values)) > 8  # a fresh draw each day, never one seeded value
    sd = scale(0.25)
    assert abs(statistics.mean(values) - 30) < 4 * sd / len(values) ** 0.5 + 0.5
    assert 0.6 * sd < statistics.pstdev(values) < 1.5 * sd


def test_the_budget_is_spent_once_per_fresh_figure_and_then_refused(town: Any, api: Any) -> None:
    hub, _, clock = town
    hub.settings.clusters["alpha"].count_budget = 1.0  # four figures of epsilon 0.25
    marketer = auth(hub.issue_key(roles.MARKETER, house=A))

    def ask(**filters: Any) -> Any:
        data = {"name": "n", "purpose": "newsletter", "filters": {"uit_event_types": [DANCE], **filters}}
        return api.post("/v1/segments/count", json={"definition": data}, headers=marketer)

    bounds = ["2027-01-01", "2027-01-02", "2027-01-03"]
    answers = [ask(bought_to=b) for b in bounds]
    assert all(a.status_code == 200 for a in answers)
    assert [ask(bought_to=b).json() for b in bounds] == [a.json() for a in answers]  # repeats are free
    assert hub.sql("SELECT spent_micro FROM privacy_budgets") == [(750_000,)]
    # a breakdown needs its total and one figure per month cell: two figures, one left
    month = {"definition": {"name": "n", "purpose": "newsletter", "filters": {"uit_event_types": [DANCE]}}}
    refused = api.post("/v1/segments/count", json=month | {"breakdown": "month"}, headers=marketer)
    assert refused.status_code == 429
    assert refused.json()["error"] == "PrivacyBudgetExhausted" and "2027-01-01" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) > 0
    assert hub.sql("SELECT spent_micro FROM privacy_budgets") == [(750_000,)]  # refused: nothing spent
    assert ask().status_code == 200  # the last figure
    assert ask(bought_to="2027-01-04").status_code == 429
    assert api.get("/v1/people/count", params={"purpose": "newsletter"}, headers=marketer).status_code == 429
    assert ask(bought_to=bounds[0]).json() == answers[0].json()  # what was shown today is still shown
    # the budget is the house's: another house's marketer is answered
    other = Actor("test:marketer-b", "alpha", roles.MARKETER, B)
    with hub.uow() as uow:
        assert AudienceService(uow).count(other, DANCE_SEGMENT)["count"] is not None
    # a new month renews it
    clock.now = dt.datetime(2027, 1, 1, 0, 0, 1, tzinfo=dt.UTC)
    assert ask(bought_to="2027-01-04").status_code == 200


def test_the_spend_never_passes_the_limit(town: Any) -> None:
    hub, _, _ = town
    hub.settings.clusters["alpha"].count_budget = 0.5
    answered = 0
    for i in range(3):
        with hub.uow() as uow:
            try:
                AudienceService(uow).count(MARKETER, DANCE_SEGMENT | {"filters": {"min_visits": i + 1}})
                answered += 1
            except PrivacyBudgetExhausted:
                pass
    assert answered == 2 and hub.sql("SELECT spent_micro FROM privacy_budgets") == [(500_000,)]


def test_people_counts_are_protected_for_a_house_and_exact_for_the_cluster(town: Any, api: Any) -> None:
    hub, _, _ = town
    box = auth(hub.issue_key(roles.BOX_OFFICE, house=A))
    service = auth(hub.issue_key(roles.CLUSTER_SERVICE))
    house = api.get("/v1/people/count", params={"purpose": "ticketing-service"}, headers=box).json()
    assert house["count"] == BELOW or house["count"] >= MIN_COHORT
    assert "epsilon" in house["protection"]
    cluster = api.get("/v1/people/count", params={"purpose": "ticketing-service"}, headers=service).json()
    assert cluster["count"] == 56 and cluster["protection"].startswith("exact")
    # the audit log does not keep the exact figure a house was not shown
    details = [json.loads(d) for (d,) in hub.sql("SELECT detail FROM audit_entries WHERE action = 'people.count'")]
    house_entry = next(d for d in details if "shown" in d)
    assert "count" not in house_entry and house_entry["shown"] == house["count"] and house_entry["fresh_figures"] == 1


def test_the_mechanism_is_the_discrete_laplace_of_its_epsilon() -> None:
    epsilon, n = 0.25, 40_000
    draws = [discrete_laplace(epsilon) for _ in range(n)]
    alpha = 2.718281828459045**-epsilon
    for k in (0, 1, -1, 5):
        expected = (1 - alpha) / (1 + alpha) * alpha ** abs(k)
        assert abs(draws.count(k) / n - expected) < 0.01, k
    assert abs(statistics.mean(draws)) < 0.15
