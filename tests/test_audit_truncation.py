"""Issue 11, point 6: cutting the tail of the audit log is caught without anyone having signed by hand.

Before the fix, a cluster that never ran `audit checkpoint` had no signed checkpoint, so deleting
the last entries and moving the head back (triggers dropped, as a database owner can) passed
`audit verify`; against an exported checkpoint the report named entry 1 instead of the cut."""

from __future__ import annotations

import os
import stat

import sqlalchemy as sa

from consent_hub.audit.service import SignedCheckpoint
from consent_hub.audit.witness import CheckpointSchedule
from consent_hub.config import audit_checkpoint_path
from tests.conftest import Hub
from tests.test_audit_chain import ENTRIES, HEAD, attacker, entries, seed
from tests.test_cli_audit_keys import Cli, assert_clean_failure, cli, said

__all__ = ["cli"]  # the CLI fixture, shared with the CLI tests


def _cut_tail(hub: Hub, n: int) -> int:
    """Delete the last n entries and the stored checkpoints beyond the new end, move the head back
    (a consistent forgery: nothing left in the database points past the cut). Returns the new end."""
    rows = entries(hub)
    keep = rows[: len(rows) - n]
    with attacker(hub) as conn:
        conn.execute(sa.delete(ENTRIES).where(ENTRIES.c.seq > keep[-1]["seq"]))
        conn.execute(sa.text("DELETE FROM audit_checkpoints WHERE seq > :end"), {"end": keep[-1]["seq"]})
        conn.execute(sa.update(HEAD).values(seq=keep[-1]["seq"], hash=keep[-1]["hash"]))
    return int(keep[-1]["seq"])


def test_a_writing_cli_command_signs_and_exports_the_head(cli: Cli, hub: Hub) -> None:
    seed(hub, 5)  # entries 1..5 written by the service, nobody signs
    result = cli("houses", "add", "--cluster", "alpha", "--slug", "zaal-oost", "--name", "Zaal Oost")
    assert result.exit_code == 0, result.output
    rows = entries(hub)
    assert rows[-1]["action"] == "audit.checkpoint"  # signed after the command's own entry
    signed_up_to = int(rows[-2]["seq"])
    path = audit_checkpoint_path(hub.settings, "alpha")
    exported = SignedCheckpoint.parse_many(path.read_text("utf-8"), "alpha")
    assert [cp.seq for cp in exported] == [signed_up_to]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # a command that writes nothing signs nothing
    assert cli("audit", "verify", "--cluster", "alpha").exit_code == 0
    assert len(SignedCheckpoint.parse_many(path.read_text("utf-8"), "alpha")) == 1

    # the attack: the last three entries deleted, stored checkpoints too, head moved back
    end = _cut_tail(hub, 3)
    result = cli("audit", "verify", "--cluster", "alpha")
    assert_clean_failure(result, 1)
    text = said(result)
    assert f"first bad sequence number {end + 1}:" in text
    assert f"entries {end + 1}..{signed_up_to} are missing" in text


def test_the_serving_schedule_signs_after_n_entries(hub: Hub) -> None:
    cfg = hub.settings.cluster("alpha")
    cfg.audit_checkpoint_entries, cfg.audit_checkpoint_seconds = 4, 3600.0
    schedule = CheckpointSchedule(hub.settings, hub.registry, tick=0.01)
    path = audit_checkpoint_path(hub.settings, "alpha")
    seed(hub, 3)
    schedule.run_once("alpha")
    assert not path.exists()  # 3 entries, below N, interval not due
    seed(hub, 1)
    schedule.run_once("alpha")
    assert [cp.seq for cp in SignedCheckpoint.parse_many(path.read_text("utf-8"), "alpha")] == [4]
    seed(hub, 2)  # 6, 7 after the checkpoint's own entry 5
    schedule.stop()  # stopping signs what the interval has not covered yet
    exported = SignedCheckpoint.parse_many(path.read_text("utf-8"), "alpha")
    assert [cp.seq for cp in exported] == [4, 7]

    from consent_hub.audit.service import verify_chain

    end = _cut_tail(hub, 2)
    with hub.uow() as uow:
        report = verify_chain(uow.session, "alpha", uow.rt.keys.audit_public_key(), exported)
    assert report.first_bad_seq == end + 1
    assert report.problem is not None and f"entries {end + 1}..7 are missing" in report.problem
