"""Cluster keys: keyring validation, the environment provider, a broken keyring over HTTP, KEK
rotation (complete, resumable, read-only providers, retirement, with erasures), cluster isolation
of keys, and the binding of every ciphertext to its cluster, row and column."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, inspect

from consent_hub.clusters import ClusterRegistry
from consent_hub.config import load_settings, render_config
from consent_hub.crypto.fields import FieldCipher, new_data_key
from consent_hub.errors import DecryptionError, ErasedPerson, KeyringError, NotFound
from consent_hub.keys import (
    ClusterKeys,
    EnvironmentKeyProvider,
    KeyringFileProvider,
    SecretFileProvider,
    create_keyring_file,
)
from consent_hub.keys.rotation import key_status, retire, rotate
from consent_hub.people.fields import PERSON_FIELDS
from consent_hub.people.service import PeopleService
from consent_hub.rights.service import RightsService
from consent_hub.storage.models import Person, PersonKey
from tests.conftest import auth
from tests.factories import row_count

PURPOSE = "ticketing-service"
CT_COLUMNS = [f"{name}_ct" for name in PERSON_FIELDS]
ENV_VAR = "CH_TEST_ALPHA_KEYRING"


# -- helpers --------------------------------------------------------------------------------------
def as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def keyring_doc(cluster: str = "alpha") -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ClusterKeys.generate(cluster).to_json())
    return doc


def secrets_of(doc: dict[str, Any]) -> list[str]:
    """Every piece of key material of a keyring document, base64 (as stored) and hex."""
    values = [*dict(doc.get("keks") or {}).values(), doc.get("blind_index_key"), doc.get("audit_signing_key")]
    out: list[str] = []
    for v in values:
        if not isinstance(v, str) or not v:
            continue
        out.append(v)
        with contextlib.suppress(ValueError):
            out.append(base64.b64decode(v).hex())
    return out


def assert_no_key_material(message: str, doc: dict[str, Any]) -> None:
    for secret in secrets_of(doc):
        assert secret not in message, "an error message quotes key material"


def keyring_path(hub: Any, cluster: str = "alpha") -> Path:
    return Path(hub.dir) / "keys" / f"{cluster}.json"


def make_people(hub: Any, n: int, cluster: str = "alpha") -> list[uuid.UUID]:
    rows = [
        {
            "given_name": f"Odalys{i}",
            "family_name": f"Fernwhistle-{i}",
            "email": f"odalys{i}.fernwhistle@example.org",
            "city": "Mechelen",
            "postal_code": f"{2800 + i}",
            "country": "be",
            "birth_date": f"19{50 + i % 40}-0{1 + i % 9}-1{i % 10}",
            "language": "nl-be" if i % 2 else "fr",
        }
        for i in range(n)
    ]
    with hub.uow(cluster) as uow:
        result = PeopleService(uow).bulk_create(hub.actor(cluster), rows)
    assert len(result.created) == n
    return result.created


def read_all(
    hub: Any, ids: list[uuid.UUID], cluster: str = "alpha", registry: ClusterRegistry | None = None
) -> dict[uuid.UUID, dict[str, str | None]]:
    reg = registry or hub.registry
    with reg.unit_of_work(cluster) as uow:
        views = PeopleService(uow).read(hub.actor(cluster), ids, purpose=PURPOSE)
    return {v.id: v.fields for v in views}


def ciphertexts(hub: Any) -> dict[uuid.UUID, tuple[bytes | None, ...]]:
    rows = hub.sql(f"SELECT id, {', '.join(CT_COLUMNS)} FROM people")
    return {as_uuid(r[0]): tuple(None if v is None else bytes(v) for v in r[1:]) for r in rows}


def wrapped_keys(hub: Any, cluster: str = "alpha") -> dict[uuid.UUID, tuple[int, bytes]]:
    rows = hub.sql("SELECT person_id, kek_version, wrapped_key FROM person_keys", cluster=cluster, keystore=True)
    return {as_uuid(r[0]): (int(r[1]), bytes(r[2])) for r in rows}


def raw_ids(hub: Any) -> dict[uuid.UUID, Any]:
    """Person id -> the id as the database stores it (for raw statements)."""
    return {as_uuid(r[0]): r[0] for r in hub.sql("SELECT id FROM people")}


def actions_after(hub: Any, seq: int) -> list[str]:
    return [r[0] for r in hub.sql("SELECT action FROM audit_entries WHERE seq > :s ORDER BY seq", s=seq)]


def last_seq(hub: Any) -> int:
    return int(hub.sql("SELECT COALESCE(MAX(seq), 0) FROM audit_entries")[0][0])


# -- keyring validation (no database) -------------------------------------------------------------
def _remove(key: str) -> Any:
    def change(doc: dict[str, Any]) -> None:
        del doc[key]

    return change


def _set(key: str, value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        doc[key] = value

    return change


def _short_kek(doc: dict[str, Any]) -> None:
    doc["keks"]["1"] = base64.b64encode(os.urandom(16)).decode()


def _long_kek(doc: dict[str, Any]) -> None:
    doc["keks"]["1"] = base64.b64encode(os.urandom(48)).decode()


def _bad_base64_kek(doc: dict[str, Any]) -> None:
    doc["keks"]["1"] = doc["keks"]["1"][:-4] + "!!!!"


def _other_cluster(doc: dict[str, Any]) -> None:
    doc.update(keyring_doc("beta"))


BROKEN_DOCS = [
    pytest.param(_other_cluster, "belongs to another cluster", id="another-clusters-keyring"),
    pytest.param(_set("cluster", None), "belongs to another cluster", id="no-cluster"),
    pytest.param(_set("format", "something-else/1"), "is not a consent-hub-keyring/1", id="wrong-format"),
    pytest.param(_remove("keks"), "is missing a key", id="missing-keks"),
    pytest.param(_remove("blind_index_key"), "is missing a key", id="missing-blind-index-key"),
    pytest.param(_remove("audit_signing_key"), "is missing a key", id="missing-signing-key"),
    pytest.param(_remove("current_kek"), "is missing a key", id="missing-current-kek"),
    pytest.param(_short_kek, "wrong length", id="kek-too-short"),
    pytest.param(_long_kek, "wrong length", id="kek-too-long"),
    pytest.param(
        _set("blind_index_key", base64.b64encode(b"x" * 31).decode()), "wrong length", id="blind-index-key-too-short"
    ),
    pytest.param(
        _set("audit_signing_key", base64.b64encode(b"x" * 64).decode()), "wrong length", id="signing-key-too-long"
    ),
    pytest.param(_bad_base64_kek, "wrong length", id="kek-not-base64"),
    pytest.param(_set("current_kek", 3), "current KEK version it does not hold", id="current-kek-absent"),
    pytest.param(_set("current_kek", "one"), "is missing a key", id="current-kek-not-a-number"),
]


@pytest.mark.parametrize(("change", "words"), BROKEN_DOCS)
def test_broken_keyring_document_refused(tmp_path: Path, change: Any, words: str) -> None:
    doc = keyring_doc("alpha")
    original_secrets = secrets_of(doc)
    change(doc)
    path = tmp_path / "alpha.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    path.chmod(0o600)
    with pytest.raises(KeyringError, match=words) as excinfo:
        KeyringFileProvider(path, "alpha")
    message = str(excinfo.value) + repr(excinfo.value.detail)
    assert "alpha" in message and path.name in message
    assert_no_key_material(message, doc)
    for secret in original_secrets:
        assert secret not in message


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666])
def test_keyring_readable_by_others_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "alpha.json"
    create_keyring_file(path, "alpha")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    KeyringFileProvider(path, "alpha")  # fine as created
    path.chmod(mode)
    with pytest.raises(KeyringError, match=f"readable by others \\(mode {mode:04o}\\); it must be 0600"):
        KeyringFileProvider(path, "alpha")


def test_keyring_missing_not_json_or_not_a_file_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="not found") as excinfo:
        KeyringFileProvider(tmp_path / "alpha.json", "alpha")
    assert str(tmp_path) not in str(excinfo.value)  # names the file, not the host's layout

    path = tmp_path / "alpha.json"
    doc = keyring_doc("alpha")
    path.write_text(json.dumps(doc)[:-10], encoding="utf-8")  # truncated: not JSON
    path.chmod(0o600)
    with pytest.raises(KeyringError, match="is not valid JSON") as excinfo:
        KeyringFileProvider(path, "alpha")
    assert_no_key_material(str(excinfo.value), doc)

    folder = tmp_path / "dir.json"
    folder.mkdir(mode=0o700)
    with pytest.raises(KeyringError, match="is not a file"):
        KeyringFileProvider(folder, "alpha")


def test_keyring_file_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "alpha.json"
    create_keyring_file(path, "alpha")
    before = path.read_bytes()
    with pytest.raises(KeyringError, match="already exists"):
        create_keyring_file(path, "alpha")
    assert path.read_bytes() == before


def test_secret_file_provider(tmp_path: Path) -> None:
    path = tmp_path / "alpha.json"
    create_keyring_file(path, "alpha")
    path.chmod(0o440)  # a read-only mounted secret may be group-readable
    provider = SecretFileProvider(path, "alpha")
    assert provider.current_kek_version() == 1
    with pytest.raises(KeyringError, match="read-only"):
        provider.add_kek_version()
    path.chmod(0o646)
    with pytest.raises(KeyringError, match="world-writable"):
        SecretFileProvider(path, "alpha")
    with pytest.raises(KeyringError, match="missing or unreadable"):
        SecretFileProvider(tmp_path / "absent.json", "alpha")


# -- the environment provider ---------------------------------------------------------------------
def test_environment_provider_json_and_base64(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = ClusterKeys.generate("alpha")
    text = keys.to_json()
    pid = uuid.uuid4().bytes
    data_key = new_data_key()

    monkeypatch.setenv(ENV_VAR, text)
    from_json = EnvironmentKeyProvider(ENV_VAR, "alpha")
    monkeypatch.setenv(ENV_VAR, base64.b64encode(text.encode()).decode())
    from_b64 = EnvironmentKeyProvider(ENV_VAR, "alpha")
    monkeypatch.setenv(ENV_VAR, "\n  " + text)
    from_padded_json = EnvironmentKeyProvider(ENV_VAR, "alpha")

    for provider in (from_json, from_b64, from_padded_json):
        assert provider.current_kek_version() == 1 and provider.kek_versions() == [1]
        assert provider.blind_index_key() == keys.blind_index_key
        wrapped = provider.wrap_data_key(data_key, pid, 1)
        assert from_json.unwrap_data_key(wrapped, pid, 1) == data_key
        with pytest.raises(KeyringError, match="read-only"):
            provider.add_kek_version()
        with pytest.raises(KeyringError, match="read-only"):
            provider.retire_kek_version(1)
    assert from_json.audit_public_key().public_bytes_raw() == from_b64.audit_public_key().public_bytes_raw()


def test_environment_provider_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(KeyringError, match=f"{ENV_VAR} for cluster 'alpha' is not set"):
        EnvironmentKeyProvider(ENV_VAR, "alpha")
    monkeypatch.setenv(ENV_VAR, "")
    with pytest.raises(KeyringError, match="is not set"):
        EnvironmentKeyProvider(ENV_VAR, "alpha")
    monkeypatch.setenv(ENV_VAR, "not json, not base64!")
    with pytest.raises(KeyringError, match="neither JSON nor base64"):
        EnvironmentKeyProvider(ENV_VAR, "alpha")

    beta = keyring_doc("beta")
    monkeypatch.setenv(ENV_VAR, json.dumps(beta))
    with pytest.raises(KeyringError, match="belongs to another cluster") as excinfo:
        EnvironmentKeyProvider(ENV_VAR, "alpha")
    assert_no_key_material(str(excinfo.value), beta)

    doc = keyring_doc("alpha")
    _short_kek(doc)
    monkeypatch.setenv(ENV_VAR, base64.b64encode(json.dumps(doc).encode()).decode())
    with pytest.raises(KeyringError, match="wrong length") as excinfo:
        EnvironmentKeyProvider(ENV_VAR, "alpha")
    assert_no_key_material(str(excinfo.value), doc)


# -- binding of ciphertexts and wrapped keys (no database) ----------------------------------------
def test_field_ciphertext_is_bound_to_cluster_table_column_and_row() -> None:
    key = new_data_key()
    row, other_row = uuid.uuid4(), uuid.uuid4()
    blob = FieldCipher(key, "alpha").seal("wren.halloway@example.org", "people", "email", row)
    assert FieldCipher(key, "alpha").open(blob, "people", "email", row) == "wren.halloway@example.org"
    for cluster, table, column, rid in [
        ("beta", "people", "email", row),
        ("alpha", "houses", "email", row),
        ("alpha", "people", "given_name", row),
        ("alpha", "people", "email", other_row),
    ]:
        with pytest.raises(DecryptionError):
            FieldCipher(key, cluster).open(blob, table, column, rid)
    with pytest.raises(DecryptionError):
        FieldCipher(new_data_key(), "alpha").open(blob, "people", "email", row)
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(DecryptionError):
        FieldCipher(key, "alpha").open(bytes(tampered), "people", "email", row)


def test_wrapped_key_is_bound_to_person_version_and_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    alpha = ClusterKeys.generate("alpha")
    monkeypatch.setenv(ENV_VAR, alpha.to_json())
    provider = EnvironmentKeyProvider(ENV_VAR, "alpha")
    # the same KEK under another cluster's name: the cluster is bound as associated data too
    monkeypatch.setenv(
        ENV_VAR, ClusterKeys("beta", 1, alpha.keks, alpha.blind_index_key, alpha.audit_signing_key).to_json()
    )
    same_kek_other_cluster = EnvironmentKeyProvider(ENV_VAR, "beta")
    pid, other = uuid.uuid4().bytes, uuid.uuid4().bytes
    data_key = new_data_key()
    wrapped = provider.wrap_data_key(data_key, pid, 1)
    assert provider.unwrap_data_key(wrapped, pid, 1) == data_key
    with pytest.raises(DecryptionError):
        provider.unwrap_data_key(wrapped, other, 1)
    with pytest.raises(DecryptionError):
        same_kek_other_cluster.unwrap_data_key(wrapped, pid, 1)
    with pytest.raises(KeyringError, match="KEK version 2"):
        provider.unwrap_data_key(wrapped, pid, 2)
    with pytest.raises(DecryptionError):
        provider.unwrap_data_key(wrapped[:-1], pid, 1)


# -- a broken keyring over HTTP ---------------------------------------------------------------------
def test_broken_keyring_answers_503_and_writes_nothing(hub: Any, api: Any) -> None:
    headers = auth(hub.issue_key("cluster-service"))
    created = api.post(
        "/v1/people",
        headers=headers,
        json={"given_name": "Isolde", "family_name": "Marrowgate", "email": "isolde.marrowgate@example.org"},
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    url = f"/v1/people/{pid}?purpose={PURPOSE}"
    assert api.get(url, headers=headers).json()["fields"]["email"] == "isolde.marrowgate@example.org"

    path = keyring_path(hub)
    doc = json.loads(path.read_text(encoding="utf-8"))
    people_before, audit_before = row_count(hub, "people"), row_count(hub, "audit_entries")
    path.chmod(0o644)
    hub.registry.runtime("alpha").reload_keys()

    responses = [
        api.get(url, headers=headers),
        api.post("/v1/people", headers=headers, json={"email": "another.one@example.org"}),
        api.post(
            "/v1/people/lookup", headers=headers, json={"email": "isolde.marrowgate@example.org", "purpose": PURPOSE}
        ),
    ]
    for response in responses:
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["error"] == "KeyringError"
        assert "readable by others" in body["detail"] and "0600" in body["detail"]
        assert "alpha.json" in body["detail"]
        assert str(hub.dir) not in response.text
        assert_no_key_material(response.text, doc)
        assert "isolde" not in response.text.casefold()
    assert row_count(hub, "people") == people_before
    assert row_count(hub, "audit_entries") == audit_before  # the refused read left no entry either

    path.chmod(0o600)
    hub.registry.runtime("alpha").reload_keys()
    assert api.get(url, headers=headers).status_code == 200


# -- rotation -------------------------------------------------------------------------------------
def test_rotation_rewraps_every_key_and_touches_no_ciphertext(hub: Any) -> None:
    ids = make_people(hub, 50)
    plaintext = read_all(hub, ids)
    assert plaintext[ids[3]]["given_name"] == "Odalys3"
    cts, keys = ciphertexts(hub), wrapped_keys(hub)
    assert set(keys) == set(ids) and {v for v, _ in keys.values()} == {1}
    actor = hub.actor()

    with pytest.raises(KeyringError, match="50 data keys still use KEK version 1"):
        retire(hub.registry, "alpha", actor, 1)

    seq = last_seq(hub)
    calls: list[tuple[int, int]] = []
    result = rotate(
        hub.registry, "alpha", actor, batch_size=10, progress=lambda done, total: calls.append((done, total))
    )
    assert (result.version, result.started_new_version, result.rewrapped) == (2, True, 50)
    assert result.by_version == {2: 50}
    assert calls == [(0, 50), (10, 50), (20, 50), (30, 50), (40, 50), (50, 50)]
    assert actions_after(hub, seq) == ["key.kek.create"] + ["key.rewrap"] * 5

    after = wrapped_keys(hub)
    assert set(after) == set(ids)
    assert all(after[p][0] == 2 for p in ids)
    assert all(after[p][1] != keys[p][1] for p in ids)  # every wrapped key changed
    assert ciphertexts(hub) == cts  # not one ciphertext byte changed
    assert read_all(hub, ids) == plaintext

    # the new KEK was saved (mode 0600) and is used after a reload
    path = keyring_path(hub)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(json.loads(path.read_text(encoding="utf-8"))["keks"]) == ["1", "2"]
    hub.registry.runtime("alpha").reload_keys()
    assert read_all(hub, ids) == plaintext
    assert key_status(hub.registry, "alpha") == {"current_kek": 2, "kek_versions": [1, 2], "data_keys_by_kek": {2: 50}}

    # now version 1 can go; the current version cannot
    retire(hub.registry, "alpha", actor, 1)
    assert sorted(json.loads(path.read_text(encoding="utf-8"))["keks"]) == ["2"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert hub.registry.runtime("alpha").keys.kek_versions() == [2]
    assert actions_after(hub, seq)[-1] == "key.kek.retire"
    with pytest.raises(KeyringError):
        retire(hub.registry, "alpha", actor, 2)
    hub.registry.runtime("alpha").reload_keys()
    assert read_all(hub, ids) == plaintext


def test_rotation_resumes_and_skips_erased_people(hub: Any) -> None:
    ids = make_people(hub, 50)
    erased = ids[7]
    with hub.uow() as uow:
        assert RightsService(uow).erase(hub.actor(), erased)
    live = [p for p in ids if p != erased]
    plaintext = read_all(hub, live)
    cts = ciphertexts(hub)
    assert erased not in wrapped_keys(hub)

    first = rotate(hub.registry, "alpha", hub.actor(), batch_size=10, stop_after_batches=2)
    assert (first.version, first.started_new_version, first.rewrapped) == (2, True, 20)
    assert first.by_version == {1: 29, 2: 20}
    assert key_status(hub.registry, "alpha")["data_keys_by_kek"] == {1: 29, 2: 20}
    assert read_all(hub, live) == plaintext  # half-rotated data reads fine

    second = rotate(hub.registry, "alpha", hub.actor(), batch_size=10)
    assert (second.version, second.started_new_version, second.rewrapped) == (2, False, 29)
    assert second.by_version == {2: 49}
    assert first.rewrapped + second.rewrapped == len(live)
    assert hub.registry.runtime("alpha").keys.kek_versions() == [1, 2]  # no third version

    keys = wrapped_keys(hub)
    assert set(keys) == set(live) and erased not in keys
    assert ciphertexts(hub) == cts
    assert read_all(hub, live) == plaintext
    with pytest.raises(ErasedPerson), hub.uow() as uow:
        PeopleService(uow).get(hub.actor(), erased, purpose=PURPOSE)


def env_registry(hub: Any) -> ClusterRegistry:
    """The same hub with cluster alpha's keys read from $CH_TEST_ALPHA_KEYRING (read-only)."""
    spec = {
        name: {
            "database_url": cfg.database_url,
            "keys": ({"provider": "env", "variable": ENV_VAR} if name == "alpha" else cfg.keys.model_dump()),
        }
        for name, cfg in hub.settings.clusters.items()
    }
    path = Path(hub.dir) / "hub-env.toml"
    path.write_text(render_config(spec), encoding="utf-8")
    return ClusterRegistry(load_settings(path))


def test_rotation_with_a_read_only_provider(hub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = make_people(hub, 6)
    plaintext = read_all(hub, ids)
    text = keyring_path(hub).read_text(encoding="utf-8")
    monkeypatch.setenv(ENV_VAR, text)
    registry = env_registry(hub)
    try:
        assert read_all(hub, ids, registry=registry) == plaintext
        seq = last_seq(hub)
        # everything is on the newest version the secret store holds: nothing to do, and the
        # provider cannot create a version itself
        with pytest.raises(KeyringError, match="read-only"):
            rotate(registry, "alpha", hub.actor(), batch_size=4)
        assert last_seq(hub) == seq
        assert key_status(registry, "alpha")["data_keys_by_kek"] == {1: 6}
        with pytest.raises(KeyringError, match="read-only"):
            retire(registry, "alpha", hub.actor(), 3)

        # the secret manager provisions version 2 (here as base64); the hub re-wraps to it
        keys = ClusterKeys.parse(text, expected_cluster="alpha", source="test")
        newer = ClusterKeys("alpha", 2, {**keys.keks, 2: os.urandom(32)}, keys.blind_index_key, keys.audit_signing_key)
        monkeypatch.setenv(ENV_VAR, base64.b64encode(newer.to_json().encode()).decode())
        registry.runtime("alpha").reload_keys()
        result = rotate(registry, "alpha", hub.actor(), batch_size=4)
        assert (result.version, result.started_new_version, result.rewrapped) == (2, False, 6)
        assert result.by_version == {2: 6}
        assert actions_after(hub, seq) == ["key.rewrap", "key.rewrap"]
        assert read_all(hub, ids, registry=registry) == plaintext
    finally:
        registry.dispose()


# -- isolation between clusters, rows and columns ---------------------------------------------------
def test_cluster_b_keys_cannot_open_cluster_a_rows(hub: Any) -> None:
    (pid,) = make_people(hub, 1)
    version, wrapped = wrapped_keys(hub)[pid]
    alpha_keys = hub.registry.runtime("alpha").keys
    beta_keys = hub.registry.runtime("beta").keys
    assert len(alpha_keys.unwrap_data_key(wrapped, pid.bytes, version)) == 32
    assert beta_keys.current_kek_version() == version  # same version number, different KEK
    with pytest.raises(DecryptionError):
        beta_keys.unwrap_data_key(wrapped, pid.bytes, version)

    # copy the person's row and wrapped key, byte for byte, into cluster beta's databases
    with hub.uow("alpha") as uow:
        person = uow.session.get(Person, pid)
        key = uow.key_session.get(PersonKey, pid)
        person_row = {a.key: getattr(person, a.key) for a in inspect(Person).column_attrs}
        key_row = {a.key: getattr(key, a.key) for a in inspect(PersonKey).column_attrs}
    with hub.uow("beta") as uow:
        uow.session.execute(insert(Person).values(person_row))
        uow.key_session.execute(insert(PersonKey).values(key_row))
    with pytest.raises(DecryptionError), hub.uow("beta") as uow:
        PeopleService(uow).get(hub.actor("beta"), pid, purpose=PURPOSE)
    # beta's blind index key differs too: the copied row is not even found by its e-mail address
    with pytest.raises(NotFound), hub.uow("beta") as uow:
        PeopleService(uow).find_by_email(hub.actor("beta"), "odalys0.fernwhistle@example.org", purpose=PURPOSE)
    assert read_all(hub, [pid])[pid]["given_name"] == "Odalys0"  # alpha is unaffected


def test_ciphertext_is_bound_to_its_row_and_column(hub: Any) -> None:
    a, b, c = make_people(hub, 3)
    raw = raw_ids(hub)
    cts = ciphertexts(hub)
    email = CT_COLUMNS.index("email_ct")
    given = CT_COLUMNS.index("given_name_ct")
    actor = hub.actor()

    def get(pid: uuid.UUID, fields: list[str] | None = None) -> dict[str, str | None]:
        with hub.uow() as uow:
            return PeopleService(uow).get(actor, pid, purpose=PURPOSE, fields=fields).fields

    # a's e-mail ciphertext copied into b's row
    hub.sql("UPDATE people SET email_ct = :ct WHERE id = :id", ct=cts[a][email], id=raw[b])
    with pytest.raises(DecryptionError):
        get(b)
    assert get(b, ["given_name", "city"]) == {"given_name": "Odalys1", "city": "Mechelen"}
    assert get(a)["email"] == "odalys0.fernwhistle@example.org"

    # a's given name ciphertext copied into a's family name column (same row, same data key)
    hub.sql("UPDATE people SET family_name_ct = :ct WHERE id = :id", ct=cts[a][given], id=raw[a])
    with pytest.raises(DecryptionError):
        get(a)
    assert get(a, ["given_name", "email"])["given_name"] == "Odalys0"

    # a's wrapped data key copied into c's key row: it is bound to a's id and does not unwrap
    version, wrapped = wrapped_keys(hub)[a]
    c_raw = {as_uuid(r[0]): r[0] for r in hub.sql("SELECT person_id FROM person_keys", keystore=True)}[c]
    hub.sql(
        "UPDATE person_keys SET wrapped_key = :w, kek_version = :v WHERE person_id = :id",
        keystore=True,
        w=wrapped,
        v=version,
        id=c_raw,
    )
    with pytest.raises(DecryptionError):
        get(c, ["city"])
