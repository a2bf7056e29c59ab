"""`consent-hub audit ...` and `consent-hub keys ...`: exit codes and what they print, on an intact
and on a tampered audit log, for rotation, and for an unknown cluster or a broken keyring."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from typer.testing import CliRunner

from consent_hub.cli import app
from consent_hub.errors import KeyringError, UnknownCluster
from consent_hub.people.service import PeopleService
from tests.conftest import Hub
from tests.test_audit_chain import ENTRIES, HEAD, attacker, entries, rechain, seed, write_back

runner = CliRunner()
Cli = Callable[..., Result]
PURPOSE = "ticketing-service"


@pytest.fixture
def cli(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("CONSENT_HUB_CONFIG", str(hub.dir / "hub.toml"))

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args))

    return run


def said(result: Result) -> str:
    """Everything printed (stdout and stderr), with rich's line wrapping undone."""
    return " ".join(result.output.split())


def assert_clean_failure(result: Result, exit_code: int) -> None:
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit)  # a handled error, not a crash
    assert "Traceback" not in result.output


def add_people(hub: Hub, n: int) -> list[Any]:
    rows = [
        {"given_name": f"Tamsin{i}", "family_name": "Oakridge-Vale", "email": f"tamsin{i}.oakridge@example.org"}
        for i in range(n)
    ]
    with hub.uow() as uow:
        return PeopleService(uow).bulk_create(hub.actor(), rows).created


def test_audit_checkpoint_and_verify(cli: Cli, hub: Hub) -> None:
    # an empty log: nothing to sign, and intact
    result = cli("audit", "checkpoint", "--cluster", "beta")
    assert result.exit_code == 0, result.output
    assert "nothing new to sign" in said(result)
    result = cli("audit", "verify", "--cluster", "beta")
    assert result.exit_code == 0, result.output
    assert "audit log of cluster 'beta' intact: 0 entries" in said(result)

    add_people(hub, 2)  # entry 1
    seed(hub, 3)  # entries 2..4
    result = cli("audit", "checkpoint", "--cluster", "alpha")
    assert result.exit_code == 0, result.output
    match = re.search(r"checkpoint at entry 4 signed \(key ([0-9a-f]{16})\):", result.output)
    assert match is not None, result.output
    sig = re.search(r"\u2014 consent-hub-audit/alpha ([0-9a-f]{16}) (\S+)", result.output)
    assert sig is not None and sig.group(1) == match.group(1)
    assert len(base64.b64decode(sig.group(2))) == 64  # an Ed25519 signature
    assert entries(hub)[-1]["action"] == "audit.checkpoint"

    result = cli("audit", "verify", "--cluster", "alpha")
    assert result.exit_code == 0, result.output
    assert "audit log of cluster 'alpha' intact: 5 entries, 1 signed checkpoints" in said(result)

    # an entry edited behind the triggers' back: exit 1, naming its sequence number
    with attacker(hub) as conn:
        conn.execute(sa.update(ENTRIES).where(ENTRIES.c.seq == 3).values(actor="client:forger"))
    result = cli("audit", "verify", "--cluster", "alpha")
    assert_clean_failure(result, 1)
    text = said(result)
    assert "TAMPERED audit log of cluster 'alpha'" in text
    assert "first bad sequence number 3:" in text
    assert "altered" in text


def test_audit_verify_names_a_rewrite_behind_a_checkpoint(cli: Cli, hub: Hub) -> None:
    seed(hub, 3, "beta")
    assert cli("audit", "checkpoint", "-c", "beta").exit_code == 0  # signs 1..3; entry 4
    seed(hub, 2, "beta")  # 5, 6
    assert cli("audit", "checkpoint", "-c", "beta").exit_code == 0  # signs 1..6; entry 7
    seed(hub, 1, "beta")  # 8
    assert cli("audit", "verify", "-c", "beta").exit_code == 0

    # entry 5 rewritten and every later hash recomputed, head included
    rows = entries(hub, "beta")
    tail = [dict(r) for r in rows[4:]]
    tail[0]["detail"] = '{"n":"rewritten"}'
    rechain(tail, rows[3]["hash"], "beta")
    with attacker(hub, "beta") as conn:
        write_back(conn, tail)
        conn.execute(sa.update(HEAD).values(hash=tail[-1]["hash"]))

    result = cli("audit", "verify", "-c", "beta")
    assert_clean_failure(result, 1)
    text = said(result)
    assert "first bad sequence number 4:" in text  # the entry after checkpoint 3, which holds
    assert "signed checkpoint 6 no longer matches" in text
    assert cli("audit", "verify", "-c", "alpha").exit_code == 0  # alpha is untouched


def test_keys_status_rotate_and_retire(cli: Cli, hub: Hub) -> None:
    ids = add_people(hub, 5)
    result = cli("keys", "status", "--cluster", "alpha")
    assert result.exit_code == 0, result.output
    text = said(result)
    assert "'current_kek': 1" in text and "'data_keys_by_kek': {1: 5}" in text

    result = cli("keys", "rotate", "--cluster", "alpha", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    text = said(result)
    assert "rotation to KEK version 2 started: 5 data keys re-wrapped" in text
    assert "data keys per KEK version now {2: 5}" in text

    result = cli("keys", "status", "--cluster", "alpha")
    assert result.exit_code == 0, result.output
    text = said(result)
    assert "'current_kek': 2" in text and "'kek_versions': [1, 2]" in text
    assert "'data_keys_by_kek': {2: 5}" in text

    result = cli("keys", "retire", "--cluster", "alpha", "--version", "2")
    assert_clean_failure(result, KeyringError.exit_code)
    assert "KeyringError" in said(result)
    result = cli("keys", "retire", "--cluster", "alpha", "--version", "1")
    assert result.exit_code == 0, result.output
    assert "KEK version 1 of cluster 'alpha' retired" in said(result)
    keyring = json.loads((hub.dir / "keys" / "alpha.json").read_text(encoding="utf-8"))
    assert (keyring["current_kek"], sorted(keyring["keks"])) == (2, ["2"])

    # the hub's own runtime picks up the new keyring and still reads everyone
    hub.registry.runtime("alpha").reload_keys()
    with hub.uow() as uow:
        views = PeopleService(uow).read(hub.actor(), ids, purpose=PURPOSE, fields=["given_name"])
    assert [v.fields["given_name"] for v in views] == [f"Tamsin{i}" for i in range(5)]
    actions = [e["action"] for e in entries(hub)]
    assert actions.count("key.kek.create") == 1 and actions.count("key.rewrap") == 3
    assert "key.kek.retire" in actions
    assert cli("audit", "verify", "-c", "alpha").exit_code == 0


COMMANDS = [
    ("audit", "verify"),
    ("audit", "checkpoint"),
    ("keys", "status"),
    ("keys", "rotate"),
    ("keys", "retire", "--version", "7"),  # a version no data key uses: the keyring is needed
]


def test_unknown_cluster_and_broken_keyring_fail_clearly(cli: Cli, hub: Hub) -> None:
    for command in COMMANDS:
        result = cli(*command, "--cluster", "gamma")
        assert_clean_failure(result, UnknownCluster.exit_code)
        assert "UnknownCluster: unknown cluster 'gamma'" in said(result), command

    add_people(hub, 2)
    path: Path = hub.dir / "keys" / "alpha.json"
    keyring = path.read_bytes()
    doc = json.loads(keyring)
    before = entries(hub)

    path.chmod(0o644)
    for command in COMMANDS:
        result = cli(*command, "--cluster", "alpha")
        assert_clean_failure(result, KeyringError.exit_code)
        text = said(result)
        assert (
            "KeyringError: keyring for cluster 'alpha' (alpha.json) is readable by others "
            "(mode 0644); it must be 0600" in text
        ), command
        for secret in doc["keks"].values():
            assert secret not in result.output
    assert path.read_bytes() == keyring
    assert entries(hub) == before  # nothing was written

    path.chmod(0o600)
    path.rename(path.with_name("moved.json"))
    result = cli("audit", "verify", "--cluster", "alpha")
    assert_clean_failure(result, KeyringError.exit_code)
    assert "keyring for cluster 'alpha' not found (alpha.json)" in said(result)

    path.with_name("moved.json").rename(path)
    assert cli("audit", "verify", "--cluster", "alpha").exit_code == 0
