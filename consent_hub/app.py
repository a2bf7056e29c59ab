"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from sqlalchemy import Engine

from consent_hub import __version__
from consent_hub.access.endpoints import router as person_reads_router
from consent_hub.api import errors
from consent_hub.api.body_limit import ChunkedBodyLimit
from consent_hub.api.context import Context
from consent_hub.api.errors import errors_for
from consent_hub.api.request_headers import RequestHeaders
from consent_hub.audiences.endpoints import router as audiences_router
from consent_hub.audit.endpoints import router as audit_router
from consent_hub.audit.sequencer import SequencerLoop
from consent_hub.audit.witness import CheckpointSchedule
from consent_hub.buyer.endpoints import install as install_buyer_pages
from consent_hub.clients.endpoints import router as clients_router
from consent_hub.clients.service import authenticate_client
from consent_hub.clusters import ClusterRegistry
from consent_hub.config import HubSettings, load_settings
from consent_hub.consent.endpoints import consents_router, purposes_router
from consent_hub.dpo.endpoints import install as install_dpo_console
from consent_hub.houses.endpoints import router as houses_router
from consent_hub.ingest.endpoints import router as sync_router
from consent_hub.ingest.scheduler import SyncScheduler
from consent_hub.outbox.endpoints import router as outbox_router
from consent_hub.outbox.worker import OutboxLoop
from consent_hub.people.endpoints import router as people_router
from consent_hub.plugins import fake_engine_starter
from consent_hub.requests.endpoints import router as requests_router
from consent_hub.rights.endpoints import router as rights_router
from consent_hub.storage.db import is_sqlite


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


def queued_engines(registry: ClusterRegistry) -> dict[str, Engine]:
    """The clusters whose writers queue audit entries (PostgreSQL), with their engines."""
    return {
        name: registry.runtime(name).engine
        for name in registry.names()
        if not is_sqlite(registry.settings.database_url(name))
    }


def create_app(settings: HubSettings | None = None, registry: ClusterRegistry | None = None) -> FastAPI:
    settings = settings or load_settings()
    registry = registry or ClusterRegistry(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        fakes = start_fake_engines(settings)
        scheduler = SyncScheduler(settings, registry) if settings.schedule_syncs else None
        outbox = OutboxLoop(settings, registry) if settings.schedule_syncs else None
        checkpoints = CheckpointSchedule(settings, registry) if settings.schedule_syncs else None
        sequencer = SequencerLoop(queued_engines(registry), after_commits=settings.audit_sequencer_in_background)
        for job in (sequencer, scheduler, outbox, checkpoints):
            if job is not None:
                job.start()
        try:
            yield
        finally:
            for job in (outbox, scheduler, checkpoints, sequencer):
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

    app.add_middleware(RequestHeaders)  # outermost: every answer carries its request id

    @app.get("/health", response_model=Health, tags=["meta"])
    def health() -> Health:
        return Health(status="ok", version=__version__, clusters=len(settings.clusters))

    # every /v1 route authenticates, refuses a body it cannot read (400) or over the limit (413) and
    # validates its input (422)
    v1 = APIRouter(prefix="/v1", responses=errors_for(400, 401, 413, 422))

    @v1.get("/whoami", response_model=WhoAmI, tags=["meta"])
    def whoami(ctx: Context) -> WhoAmI:
        return WhoAmI(cluster=ctx.actor.cluster, role=ctx.actor.role, house=ctx.actor.house, client=ctx.actor.id)

    # each domain's router straight onto the app: FastAPI matches a request against every route of
    # every included router level by level, and one level less is a measurable share of a write
    v1_responses = errors_for(400, 401, 413, 422)
    for router in (
        v1,
        houses_router,
        clients_router,
        # the person reads first: their /people/lookup and /people/count come before /people/{person_id}
        person_reads_router,
        people_router,
        rights_router,
        purposes_router,
        consents_router,
        audit_router,
        sync_router,
        outbox_router,
        audiences_router,
        requests_router,
    ):
        app.include_router(
            router, prefix="" if router is v1 else "/v1", responses=None if router is v1 else v1_responses
        )
    # the buyer's own pages (issue 14): HTML under /my/<cluster>/, the root redirects there
    install_buyer_pages(app)
    # the DPO console (issue 15): HTML under /dpo/<cluster>/
    install_dpo_console(app)
    return app
