"""Invariant 1: clusters never meet."""

from __future__ import annotations

import pytest
from fastapi import APIRouter

from consent_hub import roles
from consent_hub.api.context import Context
from consent_hub.clusters import cluster_scope
from consent_hub.errors import ClusterIsolationError
from consent_hub.people.service import PeopleService
from tests.conftest import Hub, auth


def test_a_second_cluster_cannot_be_opened_inside_a_unit_of_work(hub: Hub) -> None:
    with hub.uow("alpha"):
        with pytest.raises(ClusterIsolationError), hub.uow("beta"):
            pass
        with hub.uow("alpha"):  # the same cluster again is fine (e.g. a nested service call)
            pass
    with hub.uow("beta"):  # after leaving alpha, beta opens
        pass


def test_scope_is_released_after_an_error(hub: Hub) -> None:
    with pytest.raises(RuntimeError), cluster_scope("alpha"):
        raise RuntimeError("boom")
    with hub.uow("beta"):
        pass


def test_each_cluster_has_its_own_database_and_keys(hub: Hub) -> None:
    assert hub.settings.database_url("alpha") != hub.settings.database_url("beta")
    alpha, beta = hub.registry.runtime("alpha"), hub.registry.runtime("beta")
    assert alpha.keys.blind_index_key() != beta.keys.blind_index_key()
    with hub.uow("alpha") as uow:
        PeopleService(uow).create(hub.actor("alpha"), {"email": "zelfde@example.org"})
    with hub.uow("beta") as uow:  # the same address is a different, unrelated person in beta
        PeopleService(uow).create(hub.actor("beta"), {"email": "zelfde@example.org"})
    a = bytes(hub.sql("SELECT email_bidx FROM people", "alpha")[0][0])
    b = bytes(hub.sql("SELECT email_bidx FROM people", "beta")[0][0])
    assert a != b  # blind indexes cannot be joined across clusters


def test_an_endpoint_cannot_reach_into_another_cluster(api, hub: Hub) -> None:
    """A (hypothetical) endpoint that tries to open beta while serving an alpha request fails."""
    router = APIRouter()

    @router.get("/v1/_test/cross")
    def cross(ctx: Context) -> dict[str, str]:
        with hub.registry.unit_of_work("beta"):
            return {"leaked": "yes"}

    api.app.include_router(router)
    key = hub.issue_key(roles.CLUSTER_SERVICE)
    resp = api.get("/v1/_test/cross", headers=auth(key))
    assert resp.status_code == 500 and resp.json()["error"] == "ClusterIsolationError"
