"""The chain head and the checkpoints: forged appends, a head moved back, removed checkpoints,
and checkpoints kept outside the database."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from consent_hub.audit import chain
from consent_hub.audit.service import AuditLog, AuditRecord, SignedCheckpoint, verify_chain
from consent_hub.errors import KeyringError
from consent_hub.keys.rotation import retire
from tests.conftest import Hub
from tests.test_audit_chain import assert_fails, attacker, checkpoint, entries, head, rechain, seed, verify


def forged_after_head(hub: Hub) -> None:
    rows = entries(hub)
    last = rows[-1]
    forged = {**last, "seq": last["seq"] + 1, "actor": "client:forger", "subjects": "[]"}
    rechain([forged], bytes(last["hash"]))
    table = sa.table(
        "audit_entries",
        *(sa.column(c) for c in forged),
    )
    # a plain INSERT: the append-only triggers allow inserts, so no trigger needs disabling
    with hub.registry.runtime("alpha").engine.begin() as conn:
        conn.execute(sa.insert(table).values(forged))


def test_forged_entry_beyond_the_head_is_named(hub: Hub) -> None:
    seed(hub, 3)
    forged_after_head(hub)
    assert_fails(verify(hub), 4, "beyond the chain head")


def test_the_database_refuses_to_move_the_head_back(hub: Hub) -> None:
    seed(hub, 3)
    with pytest.raises(sa.exc.DBAPIError):
        hub.sql("UPDATE audit_head SET seq = 1")
    with pytest.raises(sa.exc.DBAPIError):
        hub.sql("UPDATE audit_head SET hash = :h", h=b"\x01" * 32)
    assert head(hub)[0] == 3
    assert verify(hub).ok


def test_head_moved_back_by_an_attacker_is_named(hub: Hub) -> None:
    seed(hub, 4)
    second = entries(hub)[1]
    with attacker(hub) as conn:
        conn.execute(sa.text("UPDATE audit_head SET seq = 2, hash = :h"), {"h": bytes(second["hash"])})
    assert_fails(verify(hub), 3, "beyond the chain head")


def test_a_removed_checkpoint_is_named(hub: Hub) -> None:
    seed(hub, 3)
    cp = checkpoint(hub)
    assert cp is not None
    with attacker(hub) as conn:
        conn.execute(sa.text("DELETE FROM audit_checkpoints"))
    assert_fails(verify(hub), cp.seq + 1, "was removed")


def test_no_new_checkpoint_without_new_entries(hub: Hub) -> None:
    seed(hub, 2)
    assert checkpoint(hub) is not None
    assert checkpoint(hub) is None
    seed(hub, 1)
    assert checkpoint(hub) is not None


def test_exported_checkpoints_catch_a_rewrite_that_also_removed_the_stored_ones(hub: Hub) -> None:
    seed(hub, 5)
    cp = checkpoint(hub)
    assert cp is not None
    exported = SignedCheckpoint.of(cp).to_text("alpha")
    # the attacker rewrites everything from entry 2 on, recomputes every hash, drops the stored
    # checkpoints and its entry, and fixes the head: the database alone now looks intact
    rows = entries(hub)[: cp.seq]
    rows[1]["actor"] = "client:someone-else"
    rechain(rows[1:], bytes(rows[0]["hash"]))
    with attacker(hub) as conn:
        conn.execute(sa.text("DELETE FROM audit_checkpoints"))
        conn.execute(sa.text("DELETE FROM audit_subjects"))
        conn.execute(sa.text("DELETE FROM audit_entries WHERE seq > :s"), {"s": cp.seq})
        for row in rows[1:]:
            conn.execute(
                sa.text("UPDATE audit_entries SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s"),
                {"a": row["actor"], "p": row["prev_hash"], "h": row["hash"], "s": row["seq"]},
            )
        conn.execute(sa.text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": cp.seq, "h": rows[-1]["hash"]})
    assert verify(hub).ok  # the limitation of checkpoints kept only in the same database
    external = SignedCheckpoint.parse_many(exported, "alpha")
    with hub.uow() as uow:
        report = verify_chain(uow.session, "alpha", uow.rt.keys.audit_public_key(), external)
    assert not report.ok and report.first_bad_seq == 1 and "rewritten" in (report.problem or "")


def test_exported_checkpoint_text_is_checked(hub: Hub) -> None:
    seed(hub, 2)
    cp = checkpoint(hub)
    assert cp is not None
    text = SignedCheckpoint.of(cp).to_text("alpha")
    with pytest.raises(ValueError):
        SignedCheckpoint.parse_many(text, "beta")
    with pytest.raises(ValueError):
        SignedCheckpoint.parse_many(text.replace("\u2014", "-"), "alpha")
    forged = SignedCheckpoint(cp.seq, b"\x00" * 32, cp.key_id, bytes(cp.signature))
    with hub.uow() as uow:
        report = verify_chain(uow.session, "alpha", uow.rt.keys.audit_public_key(), [forged])
    assert not report.ok and "invalid signature" in (report.problem or "")


def test_retiring_an_unknown_kek_version_is_refused(hub: Hub) -> None:
    before = len(entries(hub))
    with pytest.raises(KeyringError):
        retire(hub.registry, "alpha", hub.actor(), 7)
    assert len(entries(hub)) == before


def test_checkpoint_entry_must_name_its_checkpoint(hub: Hub) -> None:
    with hub.uow() as uow:
        AuditLog(uow.session, "alpha").append(hub.actor(), AuditRecord("audit.checkpoint", [uuid.uuid4()]))
    assert_fails(verify(hub), 1, "does not name")
    assert chain.GENESIS == b"\x00" * 32
