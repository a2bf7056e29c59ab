"""The outbox worker loop inside the serving process (SQLite, or a single PostgreSQL host).

Several processes may run it against one PostgreSQL cluster database: claims use ``FOR UPDATE
SKIP LOCKED`` and a lease, so a delivery is sent by one worker at a time.
"""

from __future__ import annotations

import logging
import threading

from consent_hub.clusters import ClusterRegistry
from consent_hub.config import HubSettings
from consent_hub.outbox.delivery import OutboxWorker

log = logging.getLogger("consent_hub.outbox")


class OutboxLoop:
    def __init__(self, settings: HubSettings, registry: ClusterRegistry) -> None:
        self.settings = settings
        self.registry = registry
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.clusters = [
            (name, cfg.outbox_every_seconds)
            for name, cfg in settings.clusters.items()
            if cfg.destinations and cfg.outbox_every_seconds > 0
        ]

    def start(self) -> None:
        if self.clusters and self.thread is None:
            self.thread = threading.Thread(target=self._loop, name="outbox-worker", daemon=True)
            self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=30)

    def _loop(self) -> None:
        workers = {name: OutboxWorker(self.registry, name) for name, _ in self.clusters}
        interval = min(every for _, every in self.clusters)
        try:
            while not self.stopping.is_set():
                for name, worker in workers.items():
                    try:
                        report = worker.run_once()
                        if report.delivered or report.dead or report.retried:
                            log.info("outbox %s: %s", name, report)
                    except Exception:  # one failed cycle must not end the loop; the rows stay pending
                        log.exception("outbox cycle of cluster %s failed", name)
                self.stopping.wait(interval)
        finally:
            for worker in workers.values():
                worker.close()
