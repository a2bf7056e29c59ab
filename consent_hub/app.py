"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel

from consent_hub import __version__
from consent_hub.access.endpoints import router as person_reads_router
from consent_hub.api import errors
from consent_hub.api.body_limit import ChunkedBodyLimit
from consent_hub.api.context import Context
from consent_hub.api.errors import MAX_BODY_BYTES, errors_for
from consent_hub.audiences.endpoints import router as audiences_router
from consent_hub.audit.endpoints import router as audit_router
from consent_hub.audit.witness import CheckpointSchedule
from consent_hub.buyer.endpoints import install as install_buyer_pages
from consent_hub.clients.endpoints import router as clients_router
from consent_hub.clients.service import authenticate_client
from consent_hub.clusters import ClusterRegistry
from consent_hub.config import HubSettings, load_settings
from consent_hub.consent.endpoints import consents_router, purposes_router
from consent_hub.crypto.randomness import new_uuid
from consent_hub.houses.endpoints import router as houses_router
from consent_hub.ingest.endpoints import router as sync_router
from consent_hub.ingest.scheduler import SyncScheduler
from consent_hub.outbox.endpoints import router as outbox_router
from consent_hub.outbox.worker import OutboxLoop
from consent_hub.people.endpoints import router as people_router
from consent_hub.plugins import fake_engine_starter
from consent_hub.rights.endpoints import router as rights_router


class WhoAmI(BaseModel):
    cluster: str
    role: str
    house: str | None
    client: str


class Health(BaseModel):
    status: str
    version: str
    clusters: int


def start_fake_engines(settings: HubSettings) -> list[Any]:
    """The demo's fake engines (``[fake_engines.<kind>]`` in the config), served beside the hub."""
    started = []
    for kind, fake in settings.fake_engines.items():
        start = fake_engine_starter(kind)
        started.append(start(fake.host, fake.port, fake.seed, fake.size, fake.evolve_every))
    return started


def create_app(settings: HubSettings | None = None, registry: ClusterRegistry | None = None) -> FastAPI:
    settings = settings or load_settings()
    registry = registry or ClusterRegistry(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        fakes = start_fake_engines(settings)
        scheduler = SyncScheduler(settings, registry) if settings.schedule_syncs else None
        outbox = OutboxLoop(settings, registry) if settings.schedule_syncs else None
        checkpoints = CheckpointSchedule(settings, registry) if settings.schedule_syncs else None
        for job in (scheduler, outbox, checkpoints):
            if job is not None:
                job.start()
        try:
            yield
        finally:
            for job in (outbox, scheduler, checkpoints):
                if job is not None:
                    job.stop()
            for fake in fakes:
                fake.stop()
            registry.dispose()

    app = FastAPI(
        title="consent-hub",
        version=__version__,
        description="Privacy-first customer data and consent hub for clusters of performing-arts houses.",
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.authenticate = authenticate_client
    errors.install(app)
    # a declared Content-Length over the limit is refused unread below; a chunked body as it grows past it
    app.add_middleware(ChunkedBodyLimit)

    @app.middleware("http")
    async def request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        rid = str(new_uuid())
        request.state.request_id = rid
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            response: Response = errors.too_large()
        else:
            response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/health", response_model=Health, tags=["meta"])
    def health() -> Health:
        return Health(status="ok", version=__version__, clusters=len(settings.clusters))

    # every /v1 route authenticates, refuses a body it cannot read (400) or over the limit (413) and
    # validates its input (422)
    v1 = APIRouter(prefix="/v1", responses=errors_for(400, 401, 413, 422))

    @v1.get("/whoami", response_model=WhoAmI, tags=["meta"])
    def whoami(ctx: Context) -> WhoAmI:
        return WhoAmI(cluster=ctx.actor.cluster, role=ctx.actor.role, house=ctx.actor.house, client=ctx.actor.id)

    v1.include_router(houses_router)
    v1.include_router(clients_router)
    # the person reads first: their /people/lookup and /people/count come before /people/{person_id}
    v1.include_router(person_reads_router)
    v1.include_router(people_router)
    v1.include_router(rights_router)
    v1.include_router(purposes_router)
    v1.include_router(consents_router)
    v1.include_router(audit_router)
    v1.include_router(sync_router)
    v1.include_router(outbox_router)
    v1.include_router(audiences_router)
    app.include_router(v1)
    # the buyer's own pages (issue 14): HTML under /my/<cluster>/, the root redirects there
    install_buyer_pages(app)
    return app
