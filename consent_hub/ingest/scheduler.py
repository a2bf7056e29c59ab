"""In-process sync schedule while the hub serves (one thread; runs of a cluster never overlap).

Each configured connector with ``every_seconds`` runs on that interval, and once at start when
``run_on_start`` is set. A failed run is recorded like any other and tried again at its next
turn. With several API processes each has a scheduler; the run lease in ``SyncRunService.start``
lets only one run of a connector go at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from consent_hub.actors import Actor
from consent_hub.clusters import ClusterRegistry
from consent_hub.config import HubSettings
from consent_hub.errors import HubError, RunAlreadyActive
from consent_hub.plugins import sync_function

log = logging.getLogger("consent_hub.scheduler")


@dataclass
class Job:
    cluster: str
    connector: str
    every: float
    due: float


class SyncScheduler:
    def __init__(self, settings: HubSettings, registry: ClusterRegistry, *, tick: float = 1.0) -> None:
        self.settings = settings
        self.registry = registry
        self.tick = tick
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        now = time.monotonic()
        self.jobs = [
            Job(cluster, name, cfg.every_seconds, now if cfg.run_on_start else now + (cfg.every_seconds or 0))
            for cluster, ccfg in settings.clusters.items()
            for name, cfg in ccfg.connectors.items()
            if cfg.every_seconds > 0 or cfg.run_on_start
        ]

    def start(self) -> None:
        if self.jobs and self.thread is None:
            self.thread = threading.Thread(target=self._loop, name="sync-scheduler", daemon=True)
            self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=30)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            now = time.monotonic()
            for job in self.jobs:
                if job.due <= now and not self.stopping.is_set():
                    self.run_once(job)
                    job.due = time.monotonic() + job.every if job.every > 0 else float("inf")
            self.stopping.wait(self.tick)

    def run_once(self, job: Job) -> None:
        cfg = self.settings.cluster(job.cluster).connectors[job.connector]
        try:
            outcome = sync_function(cfg.kind)(self.registry, job.cluster, job.connector, cfg, trigger="schedule")
            log.info("sync %s/%s: %s", job.cluster, job.connector, outcome.status)
        except RunAlreadyActive:
            log.info("sync %s/%s: another run is in progress", job.cluster, job.connector)
        except HubError as exc:
            log.warning("sync %s/%s failed: %s", job.cluster, job.connector, exc.detail)
        except Exception:  # a scheduler thread must outlive one bad run; the run record holds the rest
            log.exception("sync %s/%s crashed", job.cluster, job.connector)
        self.refresh_segments(job.cluster)

    def refresh_segments(self, cluster: str) -> None:
        """After a run, the segment bitmaps of the events it touched (counts fall back to the SQL
        statement for those events until then)."""
        from consent_hub.audiences.service import AudienceService

        try:
            with self.registry.unit_of_work(cluster) as uow:
                rebuilt = AudienceService(uow).refresh_bitmaps(Actor.cli(cluster))
            if rebuilt:
                log.info("segment bitmaps of %s: %d rebuilt", cluster, rebuilt)
        except Exception:  # the next run's refresh tries again
            log.exception("segment bitmaps of %s: refresh failed", cluster)
