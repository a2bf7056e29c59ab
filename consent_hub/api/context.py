"""Request context: the bearer key names one cluster; the request opens that cluster's unit of
work, authenticates against it and commits once, before the response is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from consent_hub.actors import Actor
from consent_hub.api_keys import parse_key
from consent_hub.clusters import ClusterRegistry, UnitOfWork, cluster_scope
from consent_hub.crypto.randomness import new_uuid
from consent_hub.errors import Unauthenticated

bearer = HTTPBearer(auto_error=False, description="API key: chk_<cluster>_<key id>_<secret>")


class Authenticator(Protocol):
    """Checks a bearer key against its cluster's database; the app factory installs the clients
    domain's (``app.state.authenticate``): the HTTP layer sits below every domain's endpoints, the
    clients' included, so it does not import a domain."""

    def __call__(self, uow: UnitOfWork, token: str, request_id: str | None = None) -> Actor: ...


@dataclass
class RequestContext:
    actor: Actor
    uow: UnitOfWork


def registry_of(request: Request) -> ClusterRegistry:
    registry: ClusterRegistry = request.app.state.registry
    return registry


def authenticator_of(request: Request) -> Authenticator:
    authenticate: Authenticator = request.app.state.authenticate
    return authenticate


async def request_context(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> AsyncIterator[RequestContext]:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer API key")
    token = credentials.credentials
    cluster, _, _ = parse_key(token)
    registry = registry_of(request)
    if cluster not in registry.settings.clusters:
        raise Unauthenticated("unknown API key")
    request_id = getattr(request.state, "request_id", None) or str(new_uuid())
    # Async so that the cluster scope is set in the request's own task context: the endpoint
    # (run in a worker thread with a copy of that context) then cannot open another cluster.
    # Database work still runs in worker threads.
    # One trip to a worker thread to open and authenticate, one to commit and close (each trip
    # costs a thread hand-off, a noticeable share of a small write).
    with cluster_scope(cluster):
        uow, actor = await run_in_threadpool(
            _open_authenticated, registry, cluster, authenticator_of(request), token, request_id
        )
        try:
            yield RequestContext(actor, uow)
        except BaseException:
            await run_in_threadpool(uow.rollback_and_close)
            raise
        await run_in_threadpool(uow.commit_and_close)


def _open_authenticated(
    registry: ClusterRegistry, cluster: str, authenticate: Authenticator, token: str, request_id: str
) -> tuple[UnitOfWork, Actor]:
    uow = registry.open(cluster)
    try:
        return uow, authenticate(uow, token, request_id)
    except BaseException:
        uow.rollback_and_close()
        raise


# scope="function": the commit in unit_of_work runs before the response is sent, so a failed
# commit is a 500, never a 200 for a change that did not happen.
Context = Annotated[RequestContext, Depends(request_context, scope="function")]
