"""Outbox commands: deliver, reconcile, worker."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from consent_hub.cli.common import ClusterOpt, cluster_registry, handled, hub_settings, out
from consent_hub.clusters import ClusterRegistry
from consent_hub.vocabulary import DeliveryStatus


@handled
def deliver(
    cluster: ClusterOpt,
    until_idle: Annotated[bool, typer.Option(help="repeat cycles until nothing is due")] = False,
) -> None:
    """Run the outbox worker: deliver due consent changes, erasures and exports to destinations."""
    from consent_hub.outbox.delivery import OutboxWorker
    from consent_hub.outbox.service import OutboxService

    registry = cluster_registry(cluster)
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


@handled
def reconcile(
    cluster: ClusterOpt,
    destination: Annotated[str, typer.Option("--destination", help="destination name in the cluster's configuration")],
    dry_run: Annotated[bool, typer.Option(help="report the drift, repair nothing")] = False,
) -> None:
    """Compare what a destination holds with what it should hold; repair the drift (then delivered)."""
    from consent_hub.outbox.delivery import OutboxWorker
    from consent_hub.outbox.reconcile import reconcile as run_reconcile

    registry = cluster_registry(cluster)
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

    settings = hub_settings()
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
