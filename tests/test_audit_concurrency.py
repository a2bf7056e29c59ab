"""Writers in several processes on one cluster database (issue 13): no lock between them, and
still every change has its entry on one unbroken chain.

Four processes of two threads each record consents for the same few people at once (so states
are upserted side by side and access keys move concurrently). Afterwards the chain verifies, it
holds one entry per change, the queue is empty, and every state is the latest-given event of its
key, with an access key exactly where the state is granted. The queue's own rules and a sequencer
that dies halfway are tested below.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from consent_hub.actors import Actor
from consent_hub.audit.repository import AuditRepository
from consent_hub.audit.sequencer import AuditSequencer
from consent_hub.audit.service import AuditLog, AuditRecord, verify_chain
from consent_hub.clusters import ClusterRegistry
from consent_hub.config import load_settings
from consent_hub.consent.service import ConsentService
from consent_hub.roles import CLUSTER_OPERATOR
from tests.conftest import Hub
from tests.factories import consent_body

PROCESSES, THREADS, WRITES = 4, 2, 25


def _writer(config: str, people: list[str], notice: str, seed: int, errors: Any) -> None:
    """One process: THREADS threads of WRITES consent writes each, on people shared with the others."""
    registry = ClusterRegistry(load_settings(Path(config)))
    actor = Actor(id=f"test:writer-{seed}", cluster="alpha", role=CLUSTER_OPERATOR)

    def thread(number: int) -> None:
        rng = random.Random(seed * 100 + number)
        for i in range(WRITES):
            body = {
                "purpose": "newsletter",
                "target": "huis-a",
                "status": rng.choice(["granted", "withdrawn"]),
                "notice_sha256": notice,
                "language": "nl",
                "channel": "web",
            }
            try:
                with registry.unit_of_work("alpha") as uow:
                    ConsentService(uow).record(
                        actor, uuid.UUID(rng.choice(people)), body, idempotency_key=f"w{seed}-{number}-{i}"
                    )
            except Exception as exc:  # reported to the parent: any failure fails the test
                errors.put(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=thread, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    registry.dispose()


def _people(hub: Hub, n: int) -> tuple[list[str], str]:
    from consent_hub.people.service import PeopleService

    hub.add_house("huis-a")
    with hub.uow() as uow:
        ConsentService(uow).sync_notices(hub.actor())
        notice = ConsentService(uow).current_notice("newsletter", "nl").sha256
        ids = (
            PeopleService(uow)
            .bulk_create(
                hub.actor(),
                [
                    {"given_name": f"Gelijk{i}", "family_name": "Tijdig", "email": f"gelijk.{i}@example.org"}
                    for i in range(n)
                ],
            )
            .created
        )
    return [str(i) for i in ids], notice


def test_writers_in_several_processes_keep_one_chain(hub: Hub) -> None:
    people, notice = _people(hub, 5)
    entries_before = hub.sql("SELECT count(*) FROM audit_entries")[0][0]
    ctx = multiprocessing.get_context("spawn")
    errors = ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(str(hub.dir / "hub.toml"), people, notice, seed, errors))
        for seed in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
        assert p.exitcode == 0
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []

    writes = PROCESSES * THREADS * WRITES
    with hub.uow() as uow:
        report = verify_chain(uow.session, "alpha", uow.rt.keys.audit_public_key())
    assert report.ok, report
    assert report.queued == 0
    assert hub.sql("SELECT count(*) FROM audit_queue")[0][0] == 0
    consent_entries = hub.sql("SELECT count(*) FROM audit_entries WHERE action LIKE 'consent.%'")[0][0]
    assert consent_entries == writes
    assert hub.sql("SELECT count(*) FROM consent_events")[0][0] == writes
    assert report.entries >= entries_before + writes

    # each state is its key's latest-given event; a key exactly where the state is granted
    latest = {
        str(pid): (status, eid)
        for pid, status, eid in hub.sql(
            "SELECT e.person_id, e.status, e.id FROM consent_events e WHERE e.given_at = "
            "(SELECT max(given_at) FROM consent_events x WHERE x.person_id = e.person_id)"
        )
    }
    states = {
        str(pid): (status, eid)
        for pid, status, eid in hub.sql("SELECT person_id, status, event_id FROM consent_states")
    }
    assert states == latest
    keyed = {str(pid) for (pid,) in hub.sql("SELECT person_id FROM access_keys WHERE key = 'h:huis-a:newsletter'")}
    assert keyed == {pid for pid, (status, _) in states.items() if status == "granted"}


def _commit_unsequenced(hub: Hub, *records: AuditRecord) -> None:
    """Commit entries as a process would that stopped right after its commit: queued, unchained."""
    uow = hub.registry.open("alpha")
    try:
        AuditLog(uow.session, "alpha").append(hub.actor(), *records)
        uow.session.commit()  # not uow.commit(): its after-commit sequencing never runs
    finally:
        uow.close()


def test_a_queued_entry_cannot_be_changed_or_dropped_before_it_is_chained(hub: Hub) -> None:
    if hub.backend != "postgresql":
        pytest.skip("SQLite writers chain their entries in their own transaction: nothing is queued")
    _commit_unsequenced(hub, AuditRecord("test.queued"))
    (queued_id,) = hub.sql("SELECT id FROM audit_queue")[0]
    for statement in (
        "UPDATE audit_queue SET action = 'test.forged'",
        "DELETE FROM audit_queue",
        "TRUNCATE audit_queue",
    ):
        with pytest.raises(sa.exc.DBAPIError):
            hub.sql(statement)
    assert hub.sql("SELECT id, action FROM audit_queue") == [(queued_id, "test.queued")]
    # the next reader chains it
    with hub.uow() as uow:
        report = verify_chain(uow.session, "alpha", uow.rt.keys.audit_public_key())
    assert report.ok and report.queued == 0
    assert hub.sql("SELECT action, queue_id FROM audit_entries ORDER BY seq DESC LIMIT 1") == [
        ("test.queued", queued_id)
    ]


def test_a_sequencer_that_fails_halfway_leaves_every_entry_queued(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    if hub.backend != "postgresql":
        pytest.skip("SQLite writers chain their entries in their own transaction: nothing is queued")
    _commit_unsequenced(hub, *(AuditRecord("test.batch", detail={"i": i}) for i in range(5)))
    head_before = hub.sql("SELECT seq FROM audit_head")[0][0]
    engine = hub.registry.runtime("alpha").engine

    def crash(self: AuditRepository, seq: int, head_hash: bytes) -> None:
        raise RuntimeError("the sequencer's process died")

    monkeypatch.setattr(AuditRepository, "move_head", crash)
    with pytest.raises(RuntimeError):
        AuditSequencer(engine, "alpha").drain(wait=True)
    monkeypatch.undo()
    # entries inserted, queue rows deleted: all rolled back with the failed transaction
    assert hub.sql("SELECT count(*) FROM audit_queue")[0][0] == 5
    assert hub.sql("SELECT seq FROM audit_head")[0][0] == head_before
    assert hub.sql("SELECT count(*) FROM audit_entries WHERE seq > :s", s=head_before)[0][0] == 0
    assert AuditSequencer(engine, "alpha").drain(wait=True) == 5
    with hub.uow() as uow:
        assert verify_chain(uow.session, "alpha", uow.rt.keys.audit_public_key()).ok


def test_an_entry_of_a_rolled_back_change_never_reaches_the_chain(hub: Hub) -> None:
    entries_before = hub.sql("SELECT count(*) FROM audit_entries")[0][0]
    with pytest.raises(RuntimeError), hub.uow() as uow:
        AuditLog(uow.session, "alpha").append(hub.actor(), AuditRecord("test.rolled-back"))
        raise RuntimeError("the change failed")
    with hub.uow() as uow:
        assert verify_chain(uow.session, "alpha", uow.rt.keys.audit_public_key()).ok
    assert hub.sql("SELECT count(*) FROM audit_entries WHERE action = 'test.rolled-back'")[0][0] == 0
    assert hub.sql("SELECT count(*) FROM audit_entries")[0][0] == entries_before + 0


def test_one_idempotency_key_sent_twice_at_once_records_one_event(hub: Hub) -> None:
    """Two requests with one key at the same moment (a client retrying too early): no unique
    violation, one event, one audit entry, and both answers name the same event."""
    people, _notice = _people(hub, 1)
    person = uuid.UUID(people[0])
    body = consent_body(target="huis-a")
    barrier = threading.Barrier(2)
    answers: list[tuple[uuid.UUID, bool]] = []
    failures: list[BaseException] = []

    def send() -> None:
        try:
            with hub.uow() as uow:
                service = ConsentService(uow)
                barrier.wait()
                event, created = service.record(hub.actor(), person, body, idempotency_key="same-key-1")
                answers.append((event.id, created))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sorted(created for _, created in answers) == [False, True]
    assert len({event_id for event_id, _ in answers}) == 1
    assert hub.sql("SELECT count(*) FROM consent_events")[0][0] == 1
    assert hub.sql("SELECT count(*) FROM audit_entries WHERE action LIKE 'consent.%'")[0][0] == 1
