"""Signed checkpoints made without anyone asking, and kept outside the cluster database.

A chain with no signed checkpoint cannot show that its tail was cut: whoever owns the database
deletes the last entries, moves the head back, and every link still holds. So the hub signs the
head by itself (after each CLI command that wrote, and while serving on a schedule and after every
N entries) and appends each signed note to an append-only file that ``audit verify`` reads by
default. See docs/audit-threat-model.md for what this does and does not catch.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from consent_hub.actors import Actor
from consent_hub.audit.repository import AuditRepository
from consent_hub.audit.service import AuditLog, SignedCheckpoint
from consent_hub.clusters import ClusterRegistry
from consent_hub.config import HubSettings, audit_checkpoint_path
from consent_hub.storage.models import AuditCheckpoint

log = logging.getLogger(__name__)


def append_checkpoint(path: Path, cluster: str, cp: AuditCheckpoint) -> None:
    """Append one signed note, durably. The file is only ever opened for appending."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (SignedCheckpoint.of(cp).to_text(cluster) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def exported_checkpoints(settings: HubSettings, cluster: str) -> list[SignedCheckpoint]:
    """The checkpoints exported to the cluster's file (none when it does not exist yet)."""
    path = audit_checkpoint_path(settings, cluster)
    if not path.exists():
        return []
    return SignedCheckpoint.parse_many(path.read_text("utf-8"), cluster)


def checkpoint_now(registry: ClusterRegistry, cluster: str, actor: Actor | None = None) -> AuditCheckpoint | None:
    """Sign the head if it moved since the last checkpoint, and export it. The file is written
    after the commit: a checkpoint in the file is always one the database holds too."""
    with registry.unit_of_work(cluster) as uow:
        cp = AuditLog(uow.session, cluster).checkpoint(actor or Actor.cli(cluster), uow.rt.keys)
    if cp is not None:
        append_checkpoint(audit_checkpoint_path(registry.settings, cluster), cluster, cp)
    return cp


def head_seq(registry: ClusterRegistry, cluster: str) -> int:
    with registry.unit_of_work(cluster) as uow:
        head = AuditRepository(uow.session).read_head()
    return 0 if head is None else int(head[0])


def entries_since_checkpoint(registry: ClusterRegistry, cluster: str) -> int:
    with registry.unit_of_work(cluster) as uow:
        repo = AuditRepository(uow.session)
        head = repo.read_head()
        last = max((int(c.seq) for c in repo.checkpoints()), default=0)
    return 0 if head is None else max(0, int(head[0]) - last)


class CheckpointSchedule:
    """While serving: every ``audit_checkpoint_seconds``, or as soon as ``audit_checkpoint_entries``
    entries follow the last checkpoint, sign and export each cluster's head (one query per cluster
    and tick when nothing is due)."""

    def __init__(self, settings: HubSettings, registry: ClusterRegistry, *, tick: float = 5.0) -> None:
        self.settings = settings
        self.registry = registry
        self.tick = tick
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        now = time.monotonic()
        self.due = {
            name: now + cfg.audit_checkpoint_seconds
            for name, cfg in settings.clusters.items()
            if cfg.audit_checkpoint_seconds > 0
        }

    def start(self) -> None:
        if self.due and self.thread is None:
            self.thread = threading.Thread(target=self._loop, name="audit-checkpoints", daemon=True)
            self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=30)
        for cluster in self.due:  # the entries of the last minutes are covered too
            self._sign(cluster)

    def run_once(self, cluster: str) -> None:
        cfg = self.settings.cluster(cluster)
        now = time.monotonic()
        if now >= self.due[cluster] or entries_since_checkpoint(self.registry, cluster) >= cfg.audit_checkpoint_entries:
            self._sign(cluster)
            self.due[cluster] = time.monotonic() + cfg.audit_checkpoint_seconds

    def _sign(self, cluster: str) -> None:
        try:
            checkpoint_now(self.registry, cluster)
        except Exception:  # a failed checkpoint must not stop the schedule; the next tick retries
            log.exception("audit checkpoint of cluster %s failed", cluster)

    def _loop(self) -> None:
        while not self.stopping.wait(self.tick):
            for cluster in list(self.due):
                if self.stopping.is_set():
                    break
                try:
                    self.run_once(cluster)
                except Exception:
                    log.exception("audit checkpoint schedule of cluster %s failed", cluster)
