"""Sync commands: sync, segments-refresh, sync-runs."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from consent_hub.actors import Actor
from consent_hub.cli.common import ClusterOpt, cluster_registry, err, handled, hub_settings, out
from consent_hub.clusters import ClusterRegistry
from consent_hub.errors import ConfigurationError
from consent_hub.vocabulary import SyncRunStatus


class _SyncProgress:
    """Rich progress for a sync: one bar per stream (rows read; a total where the engine gives one)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def stream_started(self, stream: str, total: int | None) -> None:
        self.tasks[stream] = self.progress.add_task(stream, total=total)

    def page_committed(self, stream: str, result: Any) -> None:
        self.progress.advance(self.tasks[stream], result.read)


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

    settings = hub_settings()
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


@handled
def segments_refresh(
    cluster: ClusterOpt,
    everything: Annotated[
        bool, typer.Option("--all", help="rebuild every bitmap (after a load that bypassed the triggers)")
    ] = False,
) -> None:
    """Rebuild the segment bitmaps of events whose ticket lines changed (PostgreSQL); until then
    a segment count that selects such an event is answered by the slower SQL statement."""
    registry = cluster_registry(cluster)
    try:
        rebuilt = _refresh_segments(registry, cluster, everything=everything)
    finally:
        registry.dispose()
    out.print(f"segment bitmaps rebuilt: {rebuilt}", highlight=False)


def _refresh_segments(registry: ClusterRegistry, cluster: str, *, everything: bool = False) -> int:
    from consent_hub.audiences.service import AudienceService

    with registry.unit_of_work(cluster) as uow:
        return AudienceService(uow).refresh_bitmaps(Actor.cli(cluster), everything=everything)


@handled
def sync_runs(
    cluster: ClusterOpt,
    connector: Annotated[str | None, typer.Option("--connector")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
) -> None:
    """List the recorded sync runs of a cluster (newest first)."""
    from consent_hub.ingest.runs import SyncRunService

    registry = cluster_registry(cluster)
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
