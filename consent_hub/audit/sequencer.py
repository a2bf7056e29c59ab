"""The sequencer: queued audit entries onto the chain, in batches, one sequencer at a time.

As in Certificate Transparency logs (Trillian's queue and sequencer), writers do not take the
chain's head: each audited change writes its entry to ``audit_queue`` in its own transaction
(so the two commit together or not at all), and a sequencer later gives a batch of committed
entries their sequence numbers and hashes, inserts them into ``audit_entries``, removes them
from the queue and moves the head, all in one transaction (so a crash leaves each entry either
queued or chained, never half-chained). Only the sequencer holding the head row's lock works;
any process may be it. A sequencer runs after every commit that queued entries (group commit:
whoever gets the head chains the entries of every writer committed so far), on a short tick in
every serving process (``SequencerLoop``), and before every read of the log.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from consent_hub.audit import chain
from consent_hub.audit.repository import AuditRepository

log = logging.getLogger(__name__)

BATCH = 2000  # entries chained per transaction
SEQUENCER_OPTION = "consent_hub_audit_sequencer"
# one sequencer at a time per process and cluster: a writer finding it busy leaves its entries
# to it (the busy one drains until the queue is empty) instead of waiting on the head row
_busy: dict[str, threading.Lock] = {}
_busy_guard = threading.Lock()
# sequencer threads that chain after this process's commits (``SequencerLoop(after_commits=True)``)
_woken: dict[str, SequencerLoop] = {}


def _process_lock(key: str) -> threading.Lock:
    with _busy_guard:
        lock = _busy.get(key)
        if lock is None:
            lock = _busy[key] = threading.Lock()
        return lock


def chain_entries(
    tag: bytes, head: tuple[int, bytes], entries: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int, bytes]:
    """Sequence numbers and links for ``entries`` (their columns as texts) after ``head``: the rows
    to insert, their subject index rows, and the new head."""
    seq, prev = head
    rows: list[dict[str, Any]] = []
    subject_rows: list[dict[str, Any]] = []
    for e in entries:
        seq += 1
        encoded = chain.encode_entry(
            seq, e["at"], e["actor"], e["house"], e["role"], e["purpose"], e["action"], e["subjects"], e["fields"],
            e["detail"],
        )
        digest = chain.link(tag, prev, encoded)
        rows.append({**e, "seq": seq, "prev_hash": prev, "hash": digest, "queue_id": e.get("queue_id")})
        subject_rows.extend(
            {"person_id": uuid.UUID(s), "seq": seq} for s in dict.fromkeys(json.loads(e["subjects"]))
        )
        prev = digest
    return rows, subject_rows, seq, prev


class AuditSequencer:
    def __init__(self, engine: Engine, cluster: str) -> None:
        # its connections say what they are (``SEQUENCER_OPTION``): a trace of one request's
        # statements can leave out the chaining of whatever the queue held at that moment
        self.engine = engine.execution_options(**{SEQUENCER_OPTION: True})
        self.cluster = cluster
        self.tag = chain.chain_tag(cluster)
        self.key = f"{cluster}|{engine.url}"
        self._lock = _process_lock(self.key)

    def drain(self, *, wait: bool) -> int:
        """Chain every committed queued entry; returns how many. ``wait``: wait for a sequencer
        at work in another process, then chain what is left (a reader that must see everything);
        else leave at once if one is at work there (it chains what this caller committed). One
        at work in this process is always waited for: it holds the head only briefly, and a
        caller that left instead could find its own entries still queued after it returned."""
        self._lock.acquire()
        try:
            total = 0
            while True:
                done = self._one_batch(wait)
                if done is None:
                    return total
                total += done
                if done < BATCH:
                    return total
        finally:
            self._lock.release()

    def drain_if_idle(self) -> None:
        """After a commit: wake the process's sequencer thread if it has one, else chain now
        unless a sequencer is at work. Never raises: the change is committed and its entry safe
        in the queue, which the next sequencer chains."""
        loop = _woken.get(self.key)
        if loop is not None:
            loop.wake()
            return
        self._drain_quietly()

    def _drain_quietly(self) -> None:
        try:
            self.drain(wait=False)
        except Exception:  # logged without values: the engine hides statement parameters
            log.exception("audit sequencer failed; queued entries wait for the next run")

    def _one_batch(self, wait: bool) -> int | None:
        with Session(self.engine) as session:
            repo = AuditRepository(session)
            head = repo.lock_head() if wait else repo.try_lock_head()
            if head is None:
                return None
            queued = repo.take_queued(BATCH)
            if not queued:
                session.rollback()
                return 0
            entries = [
                {
                    "queue_id": q.id,
                    "at": q.at,
                    "actor": q.actor,
                    "house": q.house,
                    "role": q.role,
                    "purpose": q.purpose,
                    "action": q.action,
                    "subjects": q.subjects,
                    "fields": q.fields,
                    "detail": q.detail,
                }
                for q in queued
            ]
            rows, subjects, seq, digest = chain_entries(self.tag, head, entries)
            repo.insert_entries(rows, subjects)
            repo.move_head(seq, digest)
            session.commit()
            return len(queued)


class SequencerLoop:
    """A serving process's sequencer thread. On a tick it chains what no post-commit run picked
    up (a writer that found the sequencer busy just as it finished, or a process that stopped
    after its commit). With ``after_commits`` every commit that queued entries wakes it instead
    of chaining in the request: the answer does not wait for the chain, and the entries of
    concurrent requests go into one batch."""

    def __init__(
        self, engines: dict[str, Engine], *, tick: float = 0.2, after_commits: bool = False, gather: float = 0.05
    ) -> None:
        self.sequencers = [AuditSequencer(engine, cluster) for cluster, engine in engines.items()]
        self.tick = tick
        # woken, it waits this long for the commits of other requests, so that one batch chains
        # them all (a batch costs the same few statements for one entry or a thousand)
        self.gather = gather
        self.after_commits = after_commits
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.sequencers:
            return
        self._thread = threading.Thread(target=self._loop, name="audit-sequencer", daemon=True)
        self._thread.start()
        if self.after_commits:
            for sequencer in self.sequencers:
                _woken[sequencer.key] = self

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        for sequencer in self.sequencers:
            if _woken.get(sequencer.key) is self:
                del _woken[sequencer.key]
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for sequencer in self.sequencers:  # what the last requests committed
            sequencer._drain_quietly()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self._wake.wait(self.tick) and not self._stop.is_set():
                time.sleep(self.gather)
            self._wake.clear()
            for sequencer in self.sequencers:
                sequencer._drain_quietly()
