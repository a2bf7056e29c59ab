"""The command line: set-up, houses, clients, people; clear errors and exit codes."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from consent_hub.cli import app
from consent_hub.people.service import PeopleService
from tests.conftest import Hub

runner = CliRunner()


@pytest.fixture
def cli(hub: Hub, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CONSENT_HUB_CONFIG", str(hub.dir / "hub.toml"))

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args))

    return run


def test_init_creates_config_keyring_and_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENT_HUB_CONFIG", str(tmp_path / "var" / "hub.toml"))
    result = runner.invoke(app, ["init", "--cluster", "zuidwest"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "var" / "keys" / "zuidwest.keyring.json").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "var" / "clusters" / "zuidwest.db").exists()
    assert (tmp_path / "var" / "clusters" / "zuidwest.keys.db").exists()
    assert runner.invoke(app, ["init", "--cluster", "zuidwest"]).exit_code == 0  # idempotent
    listed = runner.invoke(app, ["clusters", "list"])
    assert "zuidwest" in listed.output


def test_commands_without_a_configuration_explain_themselves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENT_HUB_CONFIG", str(tmp_path / "nothing.toml"))
    result = runner.invoke(app, ["houses", "list", "--cluster", "x"])
    assert result.exit_code != 0 and "consent-hub init" in result.output


def test_houses_and_clients(cli, hub: Hub) -> None:  # type: ignore[no-untyped-def]
    assert cli("houses", "add", "-c", "alpha", "--slug", "theater-west", "--name", "Theater West").exit_code == 0
    dup = cli("houses", "add", "-c", "alpha", "--slug", "theater-west", "--name", "Again")
    assert dup.exit_code == 4 and "HouseExists" in dup.output
    expires = (dt.date.today() + dt.timedelta(days=60)).isoformat()
    issued = cli(
        "clients",
        "add",
        "-c",
        "alpha",
        "--house",
        "theater-west",
        "--role",
        "box-office",
        "--agreement",
        "DPA-9",
        "--expires",
        expires,
    )
    assert issued.exit_code == 0, issued.output
    key = re.search(r"chk_alpha_\S+", issued.output)
    assert key is not None
    listed = cli("clients", "list", "-c", "alpha")
    assert "DPA-9" in listed.output and key.group(0).split("_", 3)[3] not in listed.output
    stored = hub.sql("SELECT key_hash FROM api_clients")
    assert all(key.group(0).encode() not in bytes(s[0]) for s in stored)
    client_id = str(hub.sql("SELECT id FROM api_clients")[0][0])
    if len(client_id) == 32:
        client_id = f"{client_id[:8]}-{client_id[8:12]}-{client_id[12:16]}-{client_id[16:20]}-{client_id[20:]}"
    assert cli("clients", "revoke", "-c", "alpha", client_id).exit_code == 0


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["houses", "add", "-c", "nope", "--slug", "a-b", "--name", "X"], 2, "unknown cluster"),
        (["houses", "add", "-c", "alpha", "--slug", "Not Valid", "--name", "X"], 2, "slug"),
        (
            [
                "clients",
                "add",
                "-c",
                "alpha",
                "--house",
                "ghost",
                "--role",
                "marketer",
                "--agreement",
                "D",
                "--expires",
                "2099-01-01",
            ],
            None,
            "Invalid",
        ),
        (
            ["clients", "add", "-c", "alpha", "--role", "cluster-service", "--agreement", "D", "--expires", "tomorrow"],
            2,
            "expires",
        ),
        (["clients", "revoke", "-c", "alpha", "not-a-uuid"], 2, "UUID"),
        (["people", "erase", "-c", "alpha", "00000000-0000-0000-0000-000000000000"], 3, "no such person"),
    ],
)
def test_bad_input_exits_non_zero_with_a_message(cli, hub: Hub, args: list[str], code: int | None, words: str) -> None:  # type: ignore[no-untyped-def]
    before = hub.sql("SELECT count(*) FROM audit_entries")[0][0]
    result = cli(*args)
    assert result.exit_code != 0
    if code is not None:
        assert result.exit_code == code
    assert words in result.output
    assert "Traceback" not in result.output
    assert hub.sql("SELECT count(*) FROM audit_entries")[0][0] == before


def test_people_erase(cli, hub: Hub) -> None:  # type: ignore[no-untyped-def]
    with hub.uow() as uow:
        pid = PeopleService(uow).create(hub.actor(), {"email": "wis.mij@example.org"})
    result = cli("people", "erase", "-c", "alpha", str(pid), "--reference", "DSR-9")
    assert result.exit_code == 0 and "erased" in result.output
    assert hub.sql("SELECT status FROM people")[0][0] == "erased"
