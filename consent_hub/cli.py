"""The `consent-hub` command line."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from consent_hub.actors import Actor
from consent_hub.clusters import ClusterRegistry
from consent_hub.config import CONFIG_ENV, HubSettings, audit_checkpoint_path, config_path, load_settings, render_config
from consent_hub.errors import ConfigurationError, HubError
from consent_hub.plugins import demo_seeder, demo_sync_config
from consent_hub.vocabulary import DeliveryStatus, SyncRunStatus

app = typer.Typer(
    help="consent-hub: privacy-first customer data and consent hub.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
houses_app = typer.Typer(help="Houses of a cluster.", no_args_is_help=True)
clients_app = typer.Typer(help="API clients (bearer keys).", no_args_is_help=True)
keys_app = typer.Typer(help="Cluster keys.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
clusters_app = typer.Typer(help="Clusters of this hub.", no_args_is_help=True)
people_app = typer.Typer(help="People (buyers).", no_args_is_help=True)
purposes_app = typer.Typer(help="Purposes and notices.", no_args_is_help=True)
app.add_typer(houses_app, name="houses")
app.add_typer(clients_app, name="clients")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(clusters_app, name="clusters")
app.add_typer(people_app, name="people")
app.add_typer(purposes_app, name="purposes")

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

ClusterOpt = Annotated[str, typer.Option("--cluster", "-c", help="cluster name")]


@app.callback()
def _global(
    config: Annotated[
        Path | None, typer.Option("--config", help=f"hub configuration (default ${CONFIG_ENV} or var/hub.toml)")
    ] = None,
) -> None:
    if config is not None:
        os.environ[CONFIG_ENV] = str(config)


def handled(fn: F) -> F:
    """Report hub errors as one line on stderr and a non-zero exit code, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            head_before = _audit_head(kwargs.get("cluster"))
            result = fn(*args, **kwargs)
            _checkpoint_after(kwargs.get("cluster"), head_before)
            return result
        except HubError as exc:
            detail = exc.detail
            if isinstance(detail, list):
                detail = "; ".join(f"{d.get('field')}: {d.get('problem')}" for d in detail if isinstance(d, dict))
            err.print(f"[red]error[/red] {exc.name}: {detail}", highlight=False, markup=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _cluster_registry(cluster: Any) -> ClusterRegistry | None:
    if not isinstance(cluster, str) or not config_path().exists():
        return None
    settings = _settings()
    return ClusterRegistry(settings) if cluster in settings.clusters else None


def _audit_head(cluster: Any) -> int | None:
    """The audit head before a command (None when the cluster has no database yet)."""
    registry = _cluster_registry(cluster)
    if registry is None:
        return None
    from consent_hub.audit.witness import head_seq

    try:
        return head_seq(registry, cluster)
    except Exception:  # not initialised yet (`init` creates it): sign after the command if it can
        return None
    finally:
        registry.dispose()


def _checkpoint_after(cluster: Any, head_before: int | None) -> None:
    """After a command that moved a cluster's audit head, sign and export the head: a tail cut
    later is then caught by `audit verify`. A command that wrote nothing signs nothing."""
    registry = _cluster_registry(cluster)
    if registry is None:
        return
    from consent_hub.audit.witness import checkpoint_now, head_seq

    try:
        if head_before is None or head_seq(registry, cluster) != head_before:
            checkpoint_now(registry, cluster)
    finally:
        registry.dispose()


def _settings() -> HubSettings:
    path = config_path()
    if not path.exists():
        raise ConfigurationError(f"no hub configuration at {path}; run `consent-hub init`")
    return load_settings(path)


def _registry(cluster: str | None = None) -> ClusterRegistry:
    settings = _settings()
    if cluster is not None:
        settings.cluster(cluster)
    return ClusterRegistry(settings)


def _uuid_argument(value: str, name: str) -> uuid.UUID:
    from consent_hub.errors import InvalidInput

    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput([{"field": name, "problem": "must be a UUID"}]) from None


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


# -- set-up ---------------------------------------------------------------------------------------
@app.command()
@handled
def init(
    cluster: Annotated[str, typer.Option(help="name of the first cluster")] = "demo",
    database_url: Annotated[str | None, typer.Option(help="defaults to an embedded SQLite file")] = None,
    demo: Annotated[bool, typer.Option(help="seed fictional demo houses, clients and buyers")] = False,
) -> None:
    """Create the hub configuration, the cluster's keyring and database (idempotent)."""
    from consent_hub.keys import create_keyring_file
    from consent_hub.storage.migrate import migrate_cluster

    path = config_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = render_config(
            {
                cluster: {
                    "display_name": f"{cluster} cluster",
                    "database_url": database_url or f"sqlite:///clusters/{cluster}.db",
                    "keys": {"provider": "keyring", "path": f"keys/{cluster}.keyring.json"},
                }
            }
        )
        path.write_text(text + (demo_sync_config()(cluster) if demo else ""), encoding="utf-8")
        out.print(f"wrote {path}")
    settings = load_settings(path)
    cfg = settings.cluster(cluster)
    if cfg.keys.provider == "keyring":
        key_path = settings.resolve_path(cfg.keys.path)
        if not key_path.exists():
            create_keyring_file(key_path, cluster)
            out.print(f"created keyring for cluster {cluster!r} (mode 0600)")
    migrate_cluster(settings, cluster)
    out.print(f"cluster {cluster!r}: database migrated")
    _sync_notices(ClusterRegistry(settings), cluster)
    if demo:
        _seed_demo(settings, cluster, path.parent)


def _seed_demo(settings: HubSettings, cluster: str, folder: Path) -> None:
    from consent_hub.houses.service import HouseService

    seed_demo = demo_seeder()  # before opening the cluster: without the fakes installed, a clear error

    registry = ClusterRegistry(settings)
    try:
        with registry.unit_of_work(cluster) as uow:
            already = bool(HouseService(uow).list())
        if already:
            out.print(f"cluster {cluster!r}: demo data already present")
            return
        keys = seed_demo(registry, cluster)
    finally:
        registry.dispose()
    key_file = folder / "demo-api-keys.txt"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        for role, key in keys.items():
            fh.write(f"{role}\t{key}\n")
    out.print(f"cluster {cluster!r}: demo houses, clients and buyers created; API keys in {key_file}")


@app.command()
@handled
def migrate(
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="one cluster; all if absent")] = None,
) -> None:
    """Bring cluster databases and key stores to the newest schema (Alembic)."""
    from consent_hub.storage.migrate import migrate_cluster

    settings = _settings()
    names = [cluster] if cluster else sorted(settings.clusters)
    for name in names:
        settings.cluster(name)
        migrate_cluster(settings, name)
        _sync_notices(ClusterRegistry(settings), name)
        out.print(f"cluster {name!r}: up to date")


@app.command()
@handled
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs)."""
    import uvicorn

    _settings()  # fail early, with a clear message
    os.environ.setdefault(CONFIG_ENV, str(config_path()))
    # syncs run on their schedule while the hub serves (the API process owns the schedule)
    os.environ.setdefault("CONSENT_HUB_SCHEDULE_SYNCS", "true")
    uvicorn.run(
        "consent_hub.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=True,
    )


@app.command()
@handled
def demo(cluster: ClusterOpt = "demo") -> None:
    """Seed fictional demo houses, clients and buyers into an empty cluster."""
    path = config_path()
    _seed_demo(_settings(), cluster, path.parent)


# -- purposes -------------------------------------------------------------------------------------
def _sync_notices(registry: ClusterRegistry, cluster: str) -> None:
    from consent_hub.consent.service import ConsentService

    try:
        with registry.unit_of_work(cluster) as uow:
            published = ConsentService(uow).sync_notices(Actor.cli(cluster))
    finally:
        registry.dispose()
    for n in published:
        out.print(f"cluster {cluster!r}: notice {n.purpose}/{n.language} version {n.version} ({n.sha256[:12]})")


@purposes_app.command("sync")
@handled
def purposes_sync(cluster: ClusterOpt) -> None:
    """Publish a new notice version for every purpose text that changed in policies/purposes.yaml."""
    _sync_notices(_registry(cluster), cluster)


@purposes_app.command("list")
@handled
def purposes_list() -> None:
    from consent_hub.consent.catalogue import load_catalogue

    table = Table("purpose", "legal basis", "scope", "field groups", "retention")
    for p in load_catalogue().purposes:
        table.add_row(p.key, p.legal_basis, p.scope, ", ".join(p.field_groups), p.retention)
    out.print(table)


# -- clusters -------------------------------------------------------------------------------------
@clusters_app.command("list")
@handled
def clusters_list() -> None:
    """List configured clusters (no database is opened)."""
    settings = _settings()
    table = Table("cluster", "name", "database", "keys")
    for name, cfg in sorted(settings.clusters.items()):
        backend = cfg.database_url.split(":", 1)[0]
        table.add_row(name, cfg.display_name, backend, cfg.keys.provider)
    out.print(table)


# -- houses ---------------------------------------------------------------------------------------
@houses_app.command("add")
@handled
def houses_add(
    cluster: ClusterOpt,
    slug: Annotated[str, typer.Option(help="short name, e.g. schouwburg-kortrijk")],
    name: Annotated[str, typer.Option(help="display name")],
    tixly_organisation_id: Annotated[str | None, typer.Option()] = None,
    ticketmatic_account: Annotated[str | None, typer.Option()] = None,
    uitdatabank_organizer_id: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Register a house in a cluster."""
    from consent_hub.houses.service import HouseService

    registry = _registry(cluster)
    with registry.unit_of_work(cluster) as uow:
        house = HouseService(uow).add(
            Actor.cli(cluster),
            {
                "slug": slug,
                "name": name,
                "tixly_organisation_id": tixly_organisation_id,
                "ticketmatic_account": ticketmatic_account,
                "uitdatabank_organizer_id": uitdatabank_organizer_id,
            },
        )
        out.print(f"house {house.slug!r} registered in cluster {cluster!r} ({house.id})")


@houses_app.command("list")
@handled
def houses_list(cluster: ClusterOpt) -> None:
    from consent_hub.houses.service import HouseService

    registry = _registry(cluster)
    with registry.unit_of_work(cluster) as uow:
        table = Table("slug", "name", "tixly org", "ticketmatic", "uitdatabank")
        for h in HouseService(uow).list():
            table.add_row(
                h.slug,
                h.name,
                h.tixly_organisation_id or "",
                h.ticketmatic_account or "",
                h.uitdatabank_organizer_id or "",
            )
    out.print(table)


# -- clients --------------------------------------------------------------------------------------
@clients_app.command("add")
@handled
def clients_add(
    cluster: ClusterOpt,
    role: Annotated[
        str,
        typer.Option(
            help="cluster-admin, cluster-service, cluster-dpo, box-office, marketer, analyst, house-dpo, connector"
        ),
    ],
    agreement: Annotated[str, typer.Option(help="reference of the data-processing agreement")],
    expires: Annotated[str, typer.Option(help="last valid day, YYYY-MM-DD")],
    house: Annotated[str | None, typer.Option(help="house slug (house roles)")] = None,
    name: Annotated[str | None, typer.Option(help="who holds the key")] = None,
) -> None:
    """Issue an API key. It is printed once; only its hash is stored."""
    from consent_hub.clients.service import ClientService
    from consent_hub.errors import InvalidInput

    try:
        expiry = dt.date.fromisoformat(expires)
    except ValueError:
        raise InvalidInput([{"field": "expires", "problem": "must be a date YYYY-MM-DD"}]) from None
    registry = _registry(cluster)
    with registry.unit_of_work(cluster) as uow:
        created = ClientService(uow).add(
            Actor.cli(cluster),
            {
                "name": name or f"{role}{'@' + house if house else ''}",
                "house": house,
                "role": role,
                "agreement": agreement,
                "expires": expiry,
            },
        )
    err.print(
        f"client {created.id} ({created.role}{', house ' + created.house if created.house else ''}) "
        f"valid until {created.expires_at:%Y-%m-%d}. The key is shown once:"
    )
    print(created.api_key)


@clients_app.command("list")
@handled
def clients_list(cluster: ClusterOpt) -> None:
    from consent_hub.clients.service import ClientService

    registry = _registry(cluster)
    with registry.unit_of_work(cluster) as uow:
        rows = ClientService(uow).list(Actor.cli(cluster))
    table = Table("id", "key id", "name", "house", "role", "agreement", "expires", "active")
    for c in rows:
        table.add_row(
            str(c.id),
            c.key_id,
            c.name,
            c.house or "",
            c.role,
            c.agreement,
            f"{c.expires_at:%Y-%m-%d}",
            "yes" if c.active else "no",
        )
    out.print(table)


@clients_app.command("revoke")
@handled
def clients_revoke(cluster: ClusterOpt, client_id: Annotated[str, typer.Argument(help="client id")]) -> None:
    from consent_hub.clients.service import ClientService

    cid = _uuid_argument(client_id, "client_id")
    registry = _registry(cluster)
    with registry.unit_of_work(cluster) as uow:
        ClientService(uow).revoke(Actor.cli(cluster), cid)
    out.print(f"client {cid} revoked")


# -- keys -----------------------------------------------------------------------------------------
@keys_app.command("status")
@handled
def keys_status(cluster: ClusterOpt) -> None:
    """KEK versions and how many data keys each wraps."""
    from consent_hub.keys.rotation import key_status

    status = key_status(_registry(cluster), cluster)
    out.print(status)


@keys_app.command("rotate")
@handled
def keys_rotate(
    cluster: ClusterOpt,
    batch_size: Annotated[int, typer.Option(min=1, max=50_000)] = 2000,
) -> None:
    """Re-wrap every data key under a new KEK version (resumes an interrupted rotation)."""
    from consent_hub.keys.rotation import rotate

    registry = _registry(cluster)
    with _progress() as progress:
        task = progress.add_task(f"re-wrapping data keys of {cluster}", total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = rotate(registry, cluster, Actor.cli(cluster), batch_size=batch_size, progress=report)
    what = "started" if result.started_new_version else "resumed"
    out.print(
        f"rotation to KEK version {result.version} {what}: {result.rewrapped} data keys re-wrapped; "
        f"data keys per KEK version now {result.by_version}"
    )


@keys_app.command("retire")
@handled
def keys_retire(cluster: ClusterOpt, version: Annotated[int, typer.Option(help="old KEK version")]) -> None:
    """Remove an old KEK version from the keyring once no data key uses it."""
    from consent_hub.keys.rotation import retire

    retire(_registry(cluster), cluster, Actor.cli(cluster), version)
    out.print(f"KEK version {version} of cluster {cluster!r} retired")


# -- audit ----------------------------------------------------------------------------------------
@audit_app.command("verify")
@handled
def audit_verify(
    cluster: ClusterOpt,
    checkpoints: Annotated[
        Path | None, typer.Option(help="file of checkpoints exported with `audit checkpoint --export`")
    ] = None,
) -> None:
    """Recompute the hash chain and check the signed checkpoints. Exits 1 on any tampering."""
    from consent_hub.audit.service import SignedCheckpoint, verify_chain
    from consent_hub.errors import InvalidInput

    registry = _registry(cluster)
    external: list[SignedCheckpoint] = []
    # the cluster's own export file (written by every automatic checkpoint), then any file named
    sources = [audit_checkpoint_path(registry.settings, cluster), *([checkpoints] if checkpoints else [])]
    for source in sources:
        if source == sources[0] and not source.exists():
            continue
        try:
            external += SignedCheckpoint.parse_many(source.read_text("utf-8"), cluster)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise InvalidInput(f"cannot read checkpoints from {source.name}: {exc}") from None
    with registry.unit_of_work(cluster) as uow:
        report = verify_chain(uow.session, cluster, uow.rt.keys.audit_public_key(), external)
    if report.ok:
        out.print(
            f"audit log of cluster {cluster!r} intact: {report.entries} entries, "
            f"{report.checkpoints} signed checkpoints ({report.seconds:.2f}s)"
        )
        return
    err.print(
        f"[red]TAMPERED[/red] audit log of cluster {cluster!r}: first bad sequence number "
        f"{report.first_bad_seq}: {report.problem}",
        highlight=False,
    )
    raise typer.Exit(1)


@audit_app.command("checkpoint")
@handled
def audit_checkpoint(
    cluster: ClusterOpt,
    export: Annotated[
        Path | None,
        typer.Option(help="append the signed checkpoint to this file (keep it outside the database host)"),
    ] = None,
) -> None:
    """Sign the current head of the audit chain with the cluster's Ed25519 key."""
    from consent_hub.audit.service import SignedCheckpoint
    from consent_hub.audit.witness import checkpoint_now

    registry = _registry(cluster)
    cp = checkpoint_now(registry, cluster)  # also appended to the cluster's export file
    if cp is None:
        out.print("nothing new to sign")
        return
    text = SignedCheckpoint.of(cp).to_text(cluster)
    if export is not None:
        with export.open("a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    out.print(f"checkpoint at entry {cp.seq} signed (key {cp.key_id}):")
    print(text)


# -- people ---------------------------------------------------------------------------------------
@people_app.command("reindex")
@handled
def people_reindex(cluster: ClusterOpt) -> None:
    """Fill the coarse language / postal-area indexes (audience filters) of people created before them."""
    from consent_hub.people.service import PeopleService

    registry = _registry(cluster)
    total = 0
    try:
        while True:
            with registry.unit_of_work(cluster) as uow:
                done = PeopleService(uow).reindex_coarse(Actor.cli(cluster))
            total += done
            if not done:
                break
    finally:
        registry.dispose()
    out.print(f"indexed {total} people")


def _person_request(cluster: str, person_id: str, act: str, reference: str | None) -> tuple[uuid.UUID, bool]:
    """One data-subject request on one person (``act`` names a PeopleService method taking the
    actor, the id and the register reference): the id, and whether it changed something."""
    from consent_hub.people.service import PeopleService

    pid = _uuid_argument(person_id, "person_id")
    registry = _registry(cluster)
    with registry.unit_of_work(cluster) as uow:
        done: bool = getattr(PeopleService(uow), act)(Actor.cli(cluster), pid, reference=reference)
    return pid, done


@people_app.command("erase")
@handled
def people_erase(
    cluster: ClusterOpt,
    person_id: Annotated[str, typer.Argument(help="person id")],
    reference: Annotated[str | None, typer.Option(help="request register reference")] = None,
) -> None:
    """Crypto-shred one person (irreversible)."""
    pid, done = _person_request(cluster, person_id, "erase", reference)
    out.print(f"person {pid} {'erased' if done else 'was already erased'}")


@people_app.command("restrict")
@handled
def people_restrict(
    cluster: ClusterOpt,
    person_id: Annotated[str, typer.Argument(help="person id")],
    reference: Annotated[str | None, typer.Option(help="request register reference")] = None,
) -> None:
    """Restrict processing of one person (GDPR Art. 18): visible to no house, archived at destinations."""
    pid, done = _person_request(cluster, person_id, "restrict", reference)
    out.print(f"person {pid} {'restricted' if done else 'was already restricted'}")


@people_app.command("lift-restriction")
@handled
def people_lift_restriction(
    cluster: ClusterOpt,
    person_id: Annotated[str, typer.Argument(help="person id")],
    reference: Annotated[str | None, typer.Option(help="request register reference")] = None,
) -> None:
    """Lift a restriction of processing: visibility and deliveries follow relations and consents again."""
    pid, done = _person_request(cluster, person_id, "lift_restriction", reference)
    out.print(f"person {pid} {'is no longer restricted' if done else 'was not restricted'}")


# -- sync ------------------------------------------------------------------------------------------
class _SyncProgress:
    """Rich progress for a sync: one bar per stream (rows read; a total where the engine gives one)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def stream_started(self, stream: str, total: int | None) -> None:
        self.tasks[stream] = self.progress.add_task(stream, total=total)

    def page_committed(self, stream: str, result: Any) -> None:
        self.progress.advance(self.tasks[stream], result.read)


@app.command()
@handled
def sync(
    cluster: ClusterOpt,
    connector: Annotated[str, typer.Option("--connector", help="connector name in the cluster's configuration")],
    refresh_segments: Annotated[
        bool,
        typer.Option(
            "--refresh-segments/--no-refresh-segments",
            help="afterwards, rebuild the segment bitmaps of the events the run touched (PostgreSQL)",
        ),
    ] = True,
) -> None:
    """Run one sync of a connector: resumable (each page commits with its bookmark), recorded as a sync run.
    Afterwards the segment bitmaps of the events it touched are rebuilt, as the hub's schedule does
    (until then a count that selects them is answered by the slower SQL statement)."""
    from consent_hub.plugins import sync_function

    settings = _settings()
    cfg = settings.cluster(cluster).connectors.get(connector)
    if cfg is None:
        raise ConfigurationError(f"cluster {cluster!r} has no connector {connector!r}")
    registry = ClusterRegistry(settings)
    try:
        with Progress(
            TextColumn("{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=False,
        ) as progress:
            outcome = sync_function(cfg.kind)(
                registry, cluster, connector, cfg, trigger="cli", progress=_SyncProgress(progress)
            )
        t = outcome.totals
        out.print(
            f"sync {outcome.status}: run {outcome.run_id}, read {t.read}, written {t.written}, "
            f"skipped {len(t.skipped)}, suppressed {t.suppressed}",
            highlight=False,
        )
        if refresh_segments:  # also after a failed run: the pages it committed are in the counts
            rebuilt = _refresh_segments(registry, cluster)
            if rebuilt:
                out.print(f"segment bitmaps rebuilt: {rebuilt}", highlight=False)
    finally:
        registry.dispose()
    if outcome.status != SyncRunStatus.SUCCEEDED:
        err.print(f"[red]error[/red] {outcome.error}", highlight=False)
        raise typer.Exit(3)


@app.command("segments-refresh")
@handled
def segments_refresh(
    cluster: ClusterOpt,
    everything: Annotated[
        bool, typer.Option("--all", help="rebuild every bitmap (after a load that bypassed the triggers)")
    ] = False,
) -> None:
    """Rebuild the segment bitmaps of events whose ticket lines changed (PostgreSQL); until then
    a segment count that selects such an event is answered by the slower SQL statement."""
    registry = _registry(cluster)
    try:
        rebuilt = _refresh_segments(registry, cluster, everything=everything)
    finally:
        registry.dispose()
    out.print(f"segment bitmaps rebuilt: {rebuilt}", highlight=False)


def _refresh_segments(registry: ClusterRegistry, cluster: str, *, everything: bool = False) -> int:
    from consent_hub.audiences.service import AudienceService

    with registry.unit_of_work(cluster) as uow:
        return AudienceService(uow).refresh_bitmaps(Actor.cli(cluster), everything=everything)


@app.command("sync-runs")
@handled
def sync_runs(
    cluster: ClusterOpt,
    connector: Annotated[str | None, typer.Option("--connector")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
) -> None:
    """List the recorded sync runs of a cluster (newest first)."""
    from consent_hub.ingest.runs import SyncRunService

    registry = _registry(cluster)
    table = Table("started (UTC)", "connector", "trigger", "status", "read", "written", "skipped", "retries", "seconds")
    with registry.unit_of_work(cluster) as uow:
        for r in SyncRunService(uow).list(Actor.cli(cluster), connector=connector, limit=limit):
            seconds = f"{(r.finished_at - r.started_at).total_seconds():.1f}" if r.finished_at else ""
            table.add_row(
                f"{r.started_at:%Y-%m-%d %H:%M:%S}",
                r.connector,
                r.trigger,
                r.status,
                str(r.rows_read),
                str(r.rows_written),
                str(r.rows_skipped),
                str(r.retries),
                seconds,
            )
    registry.dispose()
    out.print(table)


@app.command()
@handled
def deliver(
    cluster: ClusterOpt,
    until_idle: Annotated[bool, typer.Option(help="repeat cycles until nothing is due")] = False,
) -> None:
    """Run the outbox worker: deliver due consent changes, erasures and exports to destinations."""
    from consent_hub.outbox.delivery import OutboxWorker
    from consent_hub.outbox.service import OutboxService

    registry = _registry(cluster)
    worker = OutboxWorker(registry, cluster)
    try:
        while True:
            report = worker.run_once()
            out.print(
                f"delivered {report.delivered}, retried {report.retried}, dead {report.dead}, "
                f"superseded {report.superseded}",
                highlight=False,
            )
            if not until_idle or not (report.delivered or report.superseded or report.dead):
                break
        with registry.unit_of_work(cluster) as uow:
            counts = OutboxService(uow).counts()
        shown = (DeliveryStatus.PENDING, DeliveryStatus.DELIVERED, DeliveryStatus.SUPERSEDED, DeliveryStatus.DEAD)
        table = Table("destination", *shown)
        for name, by_status in sorted(counts.items()):
            table.add_row(name, *(str(by_status.get(k, 0)) for k in shown))
        out.print(table)
    finally:
        worker.close()
        registry.dispose()


@app.command()
@handled
def reconcile(
    cluster: ClusterOpt,
    destination: Annotated[str, typer.Option("--destination", help="destination name in the cluster's configuration")],
    dry_run: Annotated[bool, typer.Option(help="report the drift, repair nothing")] = False,
) -> None:
    """Compare what a destination holds with what it should hold; repair the drift (then delivered)."""
    from consent_hub.outbox.delivery import OutboxWorker
    from consent_hub.outbox.reconcile import reconcile as run_reconcile

    registry = _registry(cluster)
    try:
        report = run_reconcile(registry, cluster, destination, repair=not dry_run)
        table = Table(
            "destination",
            "held there",
            "checked",
            "in step",
            "to resubscribe",
            "to unsubscribe",
            "restricted",
            "unknown to the hub",
        )
        table.add_row(
            destination,
            str(report.held),
            str(report.checked),
            str(report.in_step),
            str(report.resubscribe),
            str(report.unsubscribe),
            str(report.restricted),
            str(report.unknown_to_hub),
        )
        out.print(table)
        if report.repaired:
            worker = OutboxWorker(registry, cluster)
            try:
                while worker.run_once().delivered:
                    pass
            finally:
                worker.close()
            out.print(f"repaired: {len(report.repaired)} deliveries enqueued and sent")
    finally:
        registry.dispose()


@app.command()
@handled
def worker(
    cluster: ClusterOpt,
    concurrency: Annotated[int, typer.Option(min=1, max=32, help="jobs at once (PostgreSQL)")] = 2,
    burst: Annotated[bool, typer.Option(help="stop once nothing is due")] = False,
) -> None:
    """Run the outbox worker. On PostgreSQL it is a procrastinate worker: start one on every machine
    that should share the cluster's deliveries. On SQLite it runs in this process."""
    import time

    from consent_hub.outbox.delivery import OutboxWorker

    settings = _settings()
    cfg = settings.cluster(cluster)
    registry = ClusterRegistry(settings)
    try:
        url = settings.database_url(cluster)
        if url.startswith("postgresql"):
            from consent_hub.outbox.queue import QUEUE, ensure_schema, make_app

            app_ = make_app(url, registry)
            if ensure_schema(app_, url):
                out.print("applied the procrastinate schema")
            with app_.open():
                app_.deliver_outbox.defer(cluster=cluster)  # type: ignore[attr-defined]
                app_.run_worker(queues=[QUEUE], concurrency=concurrency, wait=not burst)
            return
        outbox = OutboxWorker(registry, cluster)
        try:
            while True:
                report = outbox.run_once()
                busy = report.delivered or report.retried or report.superseded or report.dead
                if burst and not busy:
                    return
                if not busy:
                    time.sleep(cfg.outbox_every_seconds or 2.0)
        finally:
            outbox.close()
    finally:
        registry.dispose()


def _add_extra_commands() -> None:
    """Commands that connector packages announce (fake engines, file import)."""
    from consent_hub.plugins import extra_commands

    present = {c.name for c in app.registered_commands}
    for name, command in extra_commands().items():
        if name not in present:
            app.command(name)(handled(command))


def main() -> None:
    _add_extra_commands()
    app(prog_name="consent-hub")


if __name__ == "__main__":
    main()
