"""People service: encryption at rest, normalisation, erasure, validation (both backends)."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import subprocess
import uuid

import pytest

from consent_hub import roles
from consent_hub.errors import Conflict, DecryptionError, ErasedPerson, Forbidden, InvalidInput, NotFound
from consent_hub.people.service import PeopleService
from consent_hub.rights.service import RightsService
from fakes.demo import fictional_people
from tests.conftest import Hub, make_hub, pg_url
from tests.factories import row_count

ANNA = {
    "given_name": "Annelies",
    "family_name": "Vercruysse",
    "email": "Annelies.Vercruysse@Example.ORG",
    "phone": "0470 12 34 56",
    "street_address": "Leiestraat 12",
    "postal_code": "8500",
    "city": "Kortrijk",
    "country": "be",
    "birth_date": "1984-05-06",
    "language": "nl-be",
}


def create(hub: Hub, data: dict, cluster: str = "alpha") -> uuid.UUID:
    with hub.uow(cluster) as uow:
        return PeopleService(uow).create(hub.actor(cluster), data)


def test_create_and_read_back_normalised(hub: Hub) -> None:
    pid = create(hub, ANNA)
    with hub.uow() as uow:
        view = PeopleService(uow).get(hub.actor(), pid, purpose="ticketing-service")
    assert view.fields == {
        "given_name": "Annelies",
        "family_name": "Vercruysse",
        "email": "Annelies.Vercruysse@example.org",
        "phone": "+32470123456",
        "street_address": "Leiestraat 12",
        "postal_code": "8500",
        "city": "Kortrijk",
        "country": "BE",
        "birth_date": "1984-05-06",
        "language": "nl-BE",
    }


def test_only_requested_fields_are_decrypted(hub: Hub) -> None:
    pid = create(hub, ANNA)
    with hub.uow() as uow:
        view = PeopleService(uow).get(hub.actor(), pid, purpose="newsletter", fields=["email", "language"])
    assert view.fields == {"email": "Annelies.Vercruysse@example.org", "language": "nl-BE"}


@pytest.mark.parametrize(
    "variant",
    [
        "annelies.vercruysse@example.org",
        "  ANNELIES.VERCRUYSSE@EXAMPLE.ORG\t",
        "\uff41nnelies.vercruysse@example.org",  # fullwidth 'a' folds under NFKC
    ],
)
def test_find_by_email_normalises(hub: Hub, variant: str) -> None:
    pid = create(hub, ANNA)
    with hub.uow() as uow:
        assert PeopleService(uow).find_by_email(hub.actor(), variant, purpose="ticketing-service").id == pid


def test_unknown_email_is_not_found_and_audited(hub: Hub) -> None:
    create(hub, ANNA)
    before = row_count(hub, "audit_entries")
    with hub.uow() as uow:
        assert PeopleService(uow).lookup_by_email(hub.actor(), "nobody@example.org", purpose="x-y") is None
    assert row_count(hub, "audit_entries") == before + 1
    action, subjects, detail = hub.sql("SELECT action, subjects, detail FROM audit_entries ORDER BY seq DESC")[0]
    assert (action, subjects, detail) == ("people.lookup", "[]", '{"found":false}')
    assert "nobody" not in detail


def test_one_person_per_email(hub: Hub) -> None:
    pid = create(hub, ANNA)
    with pytest.raises(Conflict) as info, hub.uow() as uow:
        PeopleService(uow).create(hub.actor(), {**ANNA, "email": "annelies.vercruysse@EXAMPLE.org"})
    assert info.value.detail["person_id"] == str(pid)
    assert row_count(hub, "people") == 1


def test_bulk_create_reports_duplicates(hub: Hub) -> None:
    existing = create(hub, ANNA)
    rows = [
        {"email": "b1@example.org"},
        {"email": "B1@example.org"},
        {"email": ANNA["email"]},
        {"given_name": "Zonder"},
    ]
    with hub.uow() as uow:
        result = PeopleService(uow).bulk_create(hub.actor(), rows)
    assert len(result.created) == 2
    assert result.duplicates[2] == existing
    assert result.duplicates[1] == result.created[0]
    assert row_count(hub, "people") == 3


def test_bulk_create_with_a_bad_row_writes_nothing(hub: Hub) -> None:
    rows = [{"email": "ok1@example.org"}, {"email": "not-an-address"}, {"phone": "12"}]
    audit_before = row_count(hub, "audit_entries")
    with pytest.raises(InvalidInput) as info, hub.uow() as uow:
        PeopleService(uow).bulk_create(hub.actor(), rows)
    text = str(info.value.detail)
    assert "not-an-address" not in text and "'12'" not in text
    assert {problem["field"].split(".")[0] for problem in info.value.detail} == {"1", "2"}
    assert row_count(hub, "people") == 0
    assert row_count(hub, "audit_entries") == audit_before
    assert hub.sql("SELECT count(*) FROM person_keys", keystore=True)[0][0] == 0


def test_bulk_create_can_skip_bad_rows(hub: Hub) -> None:
    rows = [{"email": "ok1@example.org"}, {"email": "not-an-address"}, {"email": "ok2@example.org"}]
    with hub.uow() as uow:
        result = PeopleService(uow).bulk_create(hub.actor(), rows, skip_invalid=True)
    assert len(result.created) == 2 and list(result.invalid) == [1]
    assert result.invalid[1][0]["field"] == "1.email"


def test_update_reencrypts_and_moves_the_index(hub: Hub) -> None:
    pid = create(hub, ANNA)
    before = hub.sql("SELECT given_name_ct, email_bidx FROM people")[0]
    with hub.uow() as uow:
        version = PeopleService(uow).update(
            hub.actor(), pid, {"given_name": "Annelies", "email": "a.v@example.org", "phone": None}
        )
    assert version == 2
    after = hub.sql("SELECT given_name_ct, email_bidx, phone_ct, phone_bidx FROM people")[0]
    assert bytes(after[0]) != bytes(before[0])  # same value, fresh nonce
    assert bytes(after[1]) != bytes(before[1])
    assert after[2] is None and after[3] is None
    with hub.uow() as uow:
        svc = PeopleService(uow)
        assert (
            svc.find_by_email(hub.actor(), "A.V@example.org", purpose="ticketing-service").fields["given_name"]
            == "Annelies"
        )
    with pytest.raises(NotFound), hub.uow() as uow:
        PeopleService(uow).find_by_email(hub.actor(), ANNA["email"], purpose="ticketing-service")


def test_update_to_an_email_in_use_conflicts(hub: Hub) -> None:
    create(hub, ANNA)
    other = create(hub, {"email": "other@example.org"})
    with pytest.raises(Conflict), hub.uow() as uow:
        PeopleService(uow).update(hub.actor(), other, {"email": ANNA["email"]})


def test_erasure_shreds_key_indexes_and_ciphertexts(hub: Hub) -> None:
    pid = create(hub, ANNA)
    index = bytes(hub.sql("SELECT email_bidx FROM people")[0][0])
    with hub.uow() as uow:
        assert RightsService(uow).erase(hub.actor(), pid, reference="DSR-2026-001") is True
    row = hub.sql("SELECT status, email_bidx, phone_bidx, email_ct, given_name_ct FROM people")[0]
    assert row[0] == "erased" and all(v is None for v in row[1:])
    assert hub.sql("SELECT count(*) FROM person_keys", keystore=True)[0][0] == 0
    suppressions = hub.sql("SELECT email_bidx, suppressed_on FROM suppressions")
    assert [bytes(s[0]) for s in suppressions] == [index]
    assert str(suppressions[0][1])[:10] == dt.date.today().isoformat()
    with hub.uow() as uow:
        svc = PeopleService(uow)
        assert svc.is_suppressed(" annelies.VERCRUYSSE@example.org")
        assert RightsService(uow).erase(hub.actor(), pid) is False  # idempotent
    with pytest.raises(ErasedPerson), hub.uow() as uow:
        PeopleService(uow).get(hub.actor(), pid, purpose="ticketing-service")
    with pytest.raises(NotFound), hub.uow() as uow:
        PeopleService(uow).find_by_email(hub.actor(), ANNA["email"], purpose="ticketing-service")


def _copy_cluster_database(hub: Hub) -> str:
    """A backup of the cluster database (not of its key store), as an operator would take."""
    if hub.backend == "sqlite":
        source = hub.settings.database_url("alpha").removeprefix("sqlite:///")
        target = str(hub.dir / "backup-alpha.db")
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return f"sqlite:///{target}"
    from tests.conftest import _admin_engine

    hub.registry.runtime("alpha").engine.dispose()
    name = hub.pg_databases["alpha"]
    eng = _admin_engine()
    with eng.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}_backup" TEMPLATE "{name}"')
    eng.dispose()
    hub.pg_databases["alpha-backup"] = f"{name}_backup"
    return pg_url(f"{name}_backup")


def test_erased_person_cannot_be_decrypted_from_an_older_backup(hub: Hub) -> None:
    pid = create(hub, ANNA)
    backup_url = _copy_cluster_database(hub)
    with hub.uow() as uow:
        RightsService(uow).erase(hub.actor(), pid)
    # Restore the backup as the cluster's database: the live key store no longer has the key.
    from sqlalchemy import create_engine, text

    from consent_hub.storage.db import normalise_url

    eng = create_engine(normalise_url(backup_url))
    with eng.connect() as conn:
        row = conn.execute(text("SELECT status, email_ct FROM people")).one()
    eng.dispose()
    assert row[0] == "active" and row[1] is not None  # the backup still holds the ciphertext
    with hub.uow() as uow:
        keys = hub.sql("SELECT person_id FROM person_keys", keystore=True)
        assert keys == []
        with pytest.raises(DecryptionError):
            # the only way to open the ciphertext would be the person's data key; try every key
            # the hub still holds: none unwraps for this person
            from consent_hub.crypto.fields import FieldCipher

            for other_pid, wrapped, version in hub.sql(
                "SELECT person_id, wrapped_key, kek_version FROM person_keys", keystore=True
            ):
                dk = uow.rt.keys.unwrap_data_key(bytes(wrapped), uuid.UUID(str(other_pid)).bytes, version)
                FieldCipher(dk, "alpha").open(bytes(row[1]), "people", "email", pid)
            raise DecryptionError("no data key for this person exists any more")
    if "alpha-backup" in hub.pg_databases:
        from tests.conftest import _admin_engine

        eng = _admin_engine()
        with eng.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{hub.pg_databases.pop("alpha-backup")}" WITH (FORCE)')
        eng.dispose()


def test_database_holds_no_plaintext(hub: Hub) -> None:
    people = list(fictional_people(1000, seed=11))
    with hub.uow() as uow:
        assert len(PeopleService(uow).bulk_create(hub.actor(), people).created) == 1000
    with hub.uow() as uow:  # reads and an erasure write audit entries too: they must hold no PII
        svc = PeopleService(uow)
        view = svc.find_by_email(hub.actor(), people[0]["email"], purpose="ticketing-service")
        RightsService(uow).erase(hub.actor(), view.id)
    hub.registry.dispose()
    if hub.backend == "sqlite":
        blobs = b""
        for path in sorted((hub.dir / "clusters").iterdir()):
            blobs += path.read_bytes()
        assert len(blobs) > 100_000
    else:
        blobs = b""
        for db in (hub.pg_databases["alpha"], hub.pg_databases["alpha"] + "_keys"):
            dump = subprocess.run(
                ["pg_dump", "--no-owner", pg_url(db).replace("+psycopg", "")], capture_output=True, check=True
            )
            blobs += dump.stdout
        assert b"COPY public.people" in blobs
    haystack = blobs.lower()
    for person in people:
        assert person["email"].lower().encode() not in haystack
        assert f"{person['given_name']} {person['family_name']}".lower().encode() not in haystack
        assert person["family_name"].lower().encode() not in haystack
        assert person["street_address"].lower().encode() not in haystack
        if "phone" in person:
            e164 = "+" + "".join(ch for ch in person["phone"] if ch.isdigit())
            assert e164.encode() not in haystack
            assert person["phone"].encode() not in haystack


@pytest.mark.parametrize(
    "data, field",
    [
        ({"email": "no-at-sign.example.org"}, "email"),
        ({"email": "a@b@example.org"}, "email"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "+32 470 12 34 56 78 90"}, "phone"),
        ({"given_name": "A" * 101}, "given_name"),
        ({"family_name": "Evil\x00Name"}, "family_name"),
        ({"city": "Gent\u202e"}, "city"),
        ({"street_address": "Line1\nLine2"}, "street_address"),
        ({"country": "XX"}, "country"),
        ({"birth_date": "2999-01-01"}, "birth_date"),
        ({"language": "klingon-QQ"}, "language"),
        ({"postal_code": "85<00>"}, "postal_code"),
        ({"shoe_size": "44"}, "shoe_size"),
    ],
)
def test_bad_input_is_refused_without_echo(hub: Hub, data: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as info, hub.uow() as uow:
        PeopleService(uow).create(hub.actor(), data)
    detail = info.value.detail
    assert any(d["field"] == field for d in detail)
    for value in data.values():
        assert str(value) not in str(detail)
        assert str(value) not in str(info.value)
    assert row_count(hub, "people") == 0
    assert hub.sql("SELECT count(*) FROM person_keys", keystore=True)[0][0] == 0


@pytest.mark.parametrize(
    "role", [roles.CLUSTER_ADMIN, roles.CLUSTER_DPO, roles.BOX_OFFICE, roles.MARKETER, roles.CONNECTOR]
)
def test_roles_other_than_cluster_service_cannot_touch_people(hub: Hub, role: str) -> None:
    pid = create(hub, ANNA)
    actor = hub.actor(role=role, house="some-house" if role in roles.HOUSE_ROLES else None)
    with pytest.raises(Forbidden), hub.uow() as uow:
        PeopleService(uow).get(actor, pid, purpose="ticketing-service")
    with pytest.raises(Forbidden), hub.uow() as uow:
        PeopleService(uow).create(actor, {"email": "x@example.org"})
    with pytest.raises(Forbidden), hub.uow() as uow:
        RightsService(uow).erase(actor, pid)


def test_purpose_is_required_and_checked(hub: Hub) -> None:
    pid = create(hub, ANNA)
    with pytest.raises(InvalidInput), hub.uow() as uow:
        PeopleService(uow).get(hub.actor(), pid, purpose="Not A Purpose!")


def test_a_cluster_with_another_clusters_keys_cannot_read(tmp_path, backend) -> None:
    """Point cluster beta's configuration at alpha's database: beta's keys open nothing."""
    hub = make_hub(tmp_path, backend)
    try:
        pid = create(hub, ANNA)
        alpha = hub.registry.runtime("alpha")
        beta = hub.registry.runtime("beta")
        wrapped, version = hub.sql("SELECT wrapped_key, kek_version FROM person_keys", keystore=True)[0]
        with pytest.raises(DecryptionError):
            beta.keys.unwrap_data_key(bytes(wrapped), pid.bytes, version)
        data_key = alpha.keys.unwrap_data_key(bytes(wrapped), pid.bytes, version)
        # even with alpha's data key, a ciphertext does not open as another cluster's field
        from consent_hub.crypto.fields import FieldCipher

        email_ct = bytes(hub.sql("SELECT email_ct FROM people")[0][0])
        assert FieldCipher(data_key, "alpha").open(email_ct, "people", "email", pid).startswith("Annelies")
        with pytest.raises(DecryptionError):
            FieldCipher(data_key, "beta").open(email_ct, "people", "email", pid)
    finally:
        hub.registry.dispose()
        from tests.conftest import drop_pg_database

        for db in hub.pg_databases.values():
            drop_pg_database(db)


def test_copy_of_sqlite_file_is_usable_by_shutil(tmp_path) -> None:
    """Guard for the backup helper above: copying a closed SQLite file is a faithful backup."""
    src = tmp_path / "a.db"
    with sqlite3.connect(src) as conn:
        conn.execute("create table t(x)")
    shutil.copy(src, tmp_path / "b.db")
    with sqlite3.connect(tmp_path / "b.db") as conn:
        assert conn.execute("select count(*) from t").fetchone()[0] == 0
