"""Cluster runtimes: one database and one key provider per cluster, and the guard that keeps
clusters apart (invariant 1): a unit of work opens exactly one cluster, never two at once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from consent_hub.config import HubSettings, key_store_url
from consent_hub.crypto.blind_index import BlindIndexer
from consent_hub.crypto.key_providers import KeyProvider, provider_for
from consent_hub.errors import ClusterIsolationError
from consent_hub.storage.db import make_engine, make_sessionmaker

_open_cluster: ContextVar[str | None] = ContextVar("consent_hub_open_cluster", default=None)
AFTER_COMMIT = "consent_hub.after_commit"


def after_commit(session: Session, name: str, hook: Callable[[], None]) -> None:
    """Run ``hook`` once after the unit of work holding ``session`` commits (not after a rollback);
    a second hook of the same ``name`` in one transaction replaces the first. Hooks must not
    raise: the commit has happened."""
    session.info.setdefault(AFTER_COMMIT, {})[name] = hook


@dataclass
class ClusterRuntime:
    name: str
    settings: HubSettings
    engine: Engine
    sessions: sessionmaker[Session]
    key_engine: Engine
    key_sessions: sessionmaker[Session]
    _keys: KeyProvider | None = None
    _indexer: BlindIndexer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # house slug -> id; houses are never renamed or removed, so the mapping cannot go stale
    house_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    # (purpose, language, sha256) -> (notice id, version); published notices never change
    notice_refs: dict[tuple[str, str, str], tuple[uuid.UUID, int]] = field(default_factory=dict)

    @property
    def phone_region(self) -> str:
        return self.settings.cluster(self.name).default_phone_region

    @property
    def keys(self) -> KeyProvider:
        # Loaded on first use, so a broken keyring fails the operation that needs it, with a clear
        # KeyringError, and not the start of the whole hub.
        if self._keys is None:
            with self._lock:
                if self._keys is None:
                    self._keys = provider_for(self.settings, self.name)
        return self._keys

    @property
    def indexer(self) -> BlindIndexer:
        if self._indexer is None:
            self._indexer = BlindIndexer(self.keys.blind_index_key(), self.name)
        return self._indexer

    def reload_keys(self) -> None:
        with self._lock:
            self._keys = None
            self._indexer = None


class ClusterRegistry:
    def __init__(self, settings: HubSettings) -> None:
        self.settings = settings
        self._runtimes: dict[str, ClusterRuntime] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(self.settings.clusters)

    def runtime(self, name: str) -> ClusterRuntime:
        self.settings.cluster(name)  # UnknownCluster before anything is opened
        with self._lock:
            rt = self._runtimes.get(name)
            if rt is None:
                engine = make_engine(self.settings.database_url(name))
                key_engine = make_engine(key_store_url(self.settings, name))
                rt = ClusterRuntime(
                    name,
                    self.settings,
                    engine,
                    make_sessionmaker(engine),
                    key_engine,
                    make_sessionmaker(key_engine),
                )
                self._runtimes[name] = rt
            return rt

    @contextmanager
    def unit_of_work(self, name: str) -> Iterator[UnitOfWork]:
        """One unit of work on one cluster: committed on success, rolled back on any error."""
        with cluster_scope(name):
            uow = self.open(name)
            try:
                yield uow
            except BaseException:
                uow.rollback_and_close()
                raise
            uow.commit_and_close()

    def open(self, name: str) -> UnitOfWork:
        """A new unit of work; the caller commits or rolls back and closes it, inside
        ``cluster_scope(name)``. Prefer ``unit_of_work``."""
        rt = self.runtime(name)
        return UnitOfWork(rt, rt.sessions(), rt.key_sessions())

    def dispose(self) -> None:
        with self._lock:
            for rt in self._runtimes.values():
                rt.engine.dispose()
                rt.key_engine.dispose()
            self._runtimes.clear()


@dataclass
class UnitOfWork:
    """The cluster database session and the key-store session of one request or job.

    The two databases commit separately, key store first. Every operation is ordered so that a
    failure between the two commits is safe: a created person's key may be left without a person
    (an unused key, swept later); an erased person's key is gone before their row is marked
    erased (the row is unreadable either way, and the erasure is retried to completion).
    """

    rt: ClusterRuntime
    session: Session
    key_session: Session

    @property
    def cluster(self) -> str:
        return self.rt.name

    def commit(self) -> None:
        self.key_session.commit()
        self.session.commit()
        for hook in self.session.info.pop(AFTER_COMMIT, {}).values():
            hook()

    def rollback(self) -> None:
        self.session.info.pop(AFTER_COMMIT, None)
        self.key_session.rollback()
        self.session.rollback()

    def close(self) -> None:
        self.key_session.close()
        self.session.close()

    def commit_and_close(self) -> None:
        """Commit (rolled back if the commit fails) and close: the end of a unit of work that went well."""
        try:
            self.commit()
        except BaseException:
            self.rollback()
            raise
        finally:
            self.close()

    def rollback_and_close(self) -> None:
        try:
            self.rollback()
        finally:
            self.close()


@contextmanager
def cluster_scope(name: str) -> Iterator[None]:
    """Mark the current context as working on ``name``; refuse to enter a second cluster."""
    current = _open_cluster.get()
    if current is not None and current != name:
        raise ClusterIsolationError(f"a unit of work on cluster {current!r} is open; refusing to open cluster {name!r}")
    token = _open_cluster.set(name)
    try:
        yield
    finally:
        _open_cluster.reset(token)
