"""Property: the SQL path returns exactly the people, with exactly the field groups, that a
per-person enforce() over the real policy allows (invariants 2 and 3).

Hypothesis generates houses, people, customer and subscriber relations, and consent grants,
refusals and withdrawals (some expired, some back-dated) to a house or the whole cluster; then
requests (role, house, purpose). The oracle works from the generated world in Python, not from
the database, and asks the Casbin enforcer per person and basis.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import casbin
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent_hub.access.policy import FIELD_GROUPS, HOUSE_BASES, AccessPolicy
from consent_hub.access.repository import AccessRepository, Scope
from consent_hub.access.service import RelationService
from consent_hub.consent.catalogue import POLICIES_DIR, load_catalogue
from consent_hub.consent.service import ConsentService
from consent_hub.people.service import PeopleService
from consent_hub.storage import access_keys
from tests.conftest import Hub

ENFORCER = casbin.Enforcer(str(POLICIES_DIR / "model.conf"), str(POLICIES_DIR / "policy.csv"))
POLICY = AccessPolicy()
PURPOSES = load_catalogue().purpose_keys()
CONSENT_PURPOSES = ["newsletter", "share-with-house", "cluster-marketing"]
HOUSE_ROLES = ["box-office", "marketer", "analyst", "house-dpo", "connector"]
CLUSTER_ROLES = ["cluster-service", "cluster-dpo", "cluster-admin"]
NOW = dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class ConsentSpec:
    person: int
    purpose: str
    house: int | None  # None: cluster-wide
    status: str
    days_ago: int
    expired: bool


worlds = st.fixed_dictionaries(
    {
        "people": st.integers(min_value=1, max_value=8),
        "relations": st.lists(
            st.tuples(st.integers(0, 7), st.integers(0, 2), st.sampled_from(["customer", "subscriber"])), max_size=10
        ),
        "consents": st.lists(
            st.builds(
                ConsentSpec,
                person=st.integers(0, 7),
                purpose=st.sampled_from(CONSENT_PURPOSES),
                house=st.one_of(st.none(), st.integers(0, 2)),
                status=st.sampled_from(["granted", "granted", "refused", "withdrawn"]),
                days_ago=st.integers(1, 60),
                expired=st.booleans(),
            ),
            max_size=14,
        ),
        "requests": st.lists(
            st.one_of(
                st.tuples(st.sampled_from(HOUSE_ROLES), st.integers(0, 2), st.sampled_from(PURPOSES)),
                st.tuples(st.sampled_from(CLUSTER_ROLES), st.none(), st.sampled_from(PURPOSES)),
            ),
            min_size=1,
            max_size=6,
        ),
    }
)


def oracle_bases(
    world: dict, houses: list[str], person: int, house: int | None, purpose: str, cluster: str
) -> set[str]:
    if house is None:
        return {"any-in-cluster"}
    held: set[str] = set()
    for p, h, kind in world["relations"]:
        if p == person and h == house:
            held.add("own-house-customer" if kind == "customer" else "program-subscriber")
    for target, basis in ((house, "consent-house"), (None, "consent-cluster")):
        if purpose not in CONSENT_PURPOSES:
            continue
        # the projection keeps the event with the latest given_at (a tie goes to the later one)
        latest = None
        for c in world["consents"]:
            same = c.person == person and c.purpose == purpose and c.house == target and _valid_target(c)
            if same and (latest is None or c.days_ago <= latest.days_ago):
                latest = c
        if latest is not None and latest.status == "granted" and not latest.expired:
            held.add(basis)
    return held & HOUSE_BASES


def _valid_target(c: ConsentSpec) -> bool:
    # cluster-marketing is cluster-scoped; newsletter and share-with-house name a house
    return (c.purpose == "cluster-marketing") == (c.house is None)


def build(hub: Hub, world: dict) -> tuple[list[uuid.UUID], list[str]]:
    tag = uuid.uuid4().hex[:8]
    houses = [f"h{i}-{tag}" for i in range(3)]
    for h in houses:
        hub.add_house(h)
    actor = hub.actor()
    with hub.uow() as uow:
        ids = (
            PeopleService(uow)
            .bulk_create(actor, [{"email": f"p{i}.{tag}@example.org"} for i in range(world["people"])])
            .created
        )
        relations = RelationService(uow)
        for p, h, kind in world["relations"]:
            if p < len(ids):
                program = "cubo" if kind == "subscriber" else ""
                relations.touch(actor, ids[p], houses[h], kind, reason="data-migration", program=program)
        consents = ConsentService(uow)
        catalogue = load_catalogue()
        for c in world["consents"]:
            if c.person >= len(ids) or not _valid_target(c):
                continue
            given = NOW - dt.timedelta(days=c.days_ago)
            body = {
                "purpose": c.purpose,
                "target": None if c.house is None else houses[c.house],
                "status": c.status,
                "notice_sha256": catalogue.get(c.purpose).texts["nl"].sha256,
                "language": "nl",
                "channel": "web",
                "given_at": given.isoformat(),
            }
            if c.status == "granted":
                body["expires_at"] = (
                    NOW - dt.timedelta(hours=1) if c.expired else NOW + dt.timedelta(days=30)
                ).isoformat()
            consents.record(actor, ids[c.person], body)
    return ids, houses


@pytest.fixture
def world_hub(hub: Hub) -> Hub:
    with hub.uow() as uow:
        ConsentService(uow).sync_notices(hub.actor())
    return hub


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(world=worlds)
def test_sql_visibility_equals_per_person_enforce(world_hub: Hub, world: dict) -> None:
    hub = world_hub
    world["consents"] = [c for c in world["consents"] if c.person < world["people"]]
    world["relations"] = [r for r in world["relations"] if r[0] < world["people"]]
    ids, houses = build(hub, world)
    # the keys kept up change by change equal a recomputation from relations and consent states
    snapshot = "SELECT key, person_id, expires_at FROM access_keys ORDER BY key, person_id"
    incremental = hub.sql(snapshot)
    with hub.uow() as uow:
        access_keys.rebuild_all(uow.session)
    assert hub.sql(snapshot) == incremental
    # besides the random requests, aim some at what the world holds, so that visible people,
    # refusals, withdrawals and expiries are actually exercised
    aimed = [("marketer", 0 if c.house is None else c.house, c.purpose) for c in world["consents"]]
    aimed += [("analyst", 1, "cluster-marketing")]
    aimed += [
        ("box-office", h, "ticketing-service" if k == "customer" else "program-membership")
        for _, h, k in world["relations"]
    ]
    aimed += [("house-dpo", h, "data-subject-request") for _, h, _ in world["relations"][:1]]
    with hub.uow() as uow:
        repo = AccessRepository(uow.session)
        for role, house, purpose in [*world["requests"], *aimed]:
            slug = None if house is None else houses[house]
            compiled = POLICY.compile(role, slug, purpose)
            scope = Scope("alpha", slug, repo.house_id(slug) if slug else None, purpose, dt.datetime.now(dt.UTC))
            sql_visible = set(repo.visible_ids(compiled.bases, scope)) & set(ids)
            # the denormalised access keys count exactly what the reference predicates count
            assert repo.count(compiled.bases, scope) == repo.count_by_predicates(compiled.bases, scope), (
                role,
                slug,
                purpose,
            )
            for i, pid in enumerate(ids):
                held = oracle_bases(world, houses, i, house, purpose, "alpha")
                expected_groups = {
                    g for g in FIELD_GROUPS for b in held if ENFORCER.enforce(role, slug or "", g, "read", purpose, b)
                }
                assert (pid in sql_visible) == bool(expected_groups), (role, slug, purpose, i, held)
                if expected_groups:
                    sql_held = repo.bases_held(pid, compiled.bases, scope) or set()
                    assert compiled.groups_for(sql_held) == expected_groups, (role, slug, purpose, i)
