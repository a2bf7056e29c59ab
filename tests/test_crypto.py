"""Field encryption and blind indexes: properties that must hold for any input."""

from __future__ import annotations

import os
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent_hub.crypto.blind_index import BlindIndexer
from consent_hub.crypto.fields import FieldCipher, field_aad
from consent_hub.errors import DecryptionError
from consent_hub.people.fields import normalise_email

KEY = os.urandom(32)
text = st.text(max_size=300)


@given(text, st.uuids())
@settings(max_examples=200)
def test_seal_open_roundtrip(value: str, row: uuid.UUID) -> None:
    c = FieldCipher(KEY, "alpha")
    assert c.open(c.seal(value, "people", "email", row), "people", "email", row) == value


@given(text, st.uuids(), st.uuids())
@settings(max_examples=100)
def test_ciphertext_is_bound_to_its_row(value: str, row: uuid.UUID, other: uuid.UUID) -> None:
    c = FieldCipher(KEY, "alpha")
    blob = c.seal(value, "people", "email", row)
    if other != row:
        with pytest.raises(DecryptionError):
            c.open(blob, "people", "email", other)


@pytest.mark.parametrize(
    "where",
    [
        ("beta", "people", "email"),
        ("alpha", "people", "phone"),
        ("alpha", "contacts", "email"),
    ],
)
def test_ciphertext_is_bound_to_cluster_table_and_column(where: tuple[str, str, str]) -> None:
    row = uuid.uuid4()
    blob = FieldCipher(KEY, "alpha").seal("a@example.org", "people", "email", row)
    cluster, table, column = where
    with pytest.raises(DecryptionError):
        FieldCipher(KEY, cluster).open(blob, table, column, row)


def test_tampered_or_foreign_ciphertexts_fail() -> None:
    row = uuid.uuid4()
    c = FieldCipher(KEY, "alpha")
    blob = bytearray(c.seal("Vanneste", "people", "family_name", row))
    blob[20] ^= 1
    with pytest.raises(DecryptionError):
        c.open(bytes(blob), "people", "family_name", row)
    with pytest.raises(DecryptionError):
        FieldCipher(os.urandom(32), "alpha").open(c.seal("x", "people", "city", row), "people", "city", row)
    with pytest.raises(DecryptionError):
        c.open(b"\x02" + bytes(40), "people", "city", row)  # unknown format version


def test_same_value_encrypts_differently_and_hides_exact_length() -> None:
    row = uuid.uuid4()
    c = FieldCipher(KEY, "alpha")
    assert c.seal("Gent", "people", "city", row) != c.seal("Gent", "people", "city", row)
    assert len(c.seal("Gent", "people", "city", row)) == len(c.seal("Kortrijk", "people", "city", row))


def test_aad_parts_are_unambiguous() -> None:
    row = uuid.uuid4()
    assert field_aad("ab", "c", "d", row) != field_aad("a", "bc", "d", row)


@given(st.from_regex(r"[a-z][a-z0-9]{0,10}(\.[a-z0-9]{1,10}){0,2}@example\.org", fullmatch=True))
@settings(max_examples=100)
def test_email_index_ignores_case_space_and_width(address: str) -> None:
    idx = BlindIndexer(KEY, "alpha")
    base = idx.email(normalise_email(address)[1])
    assert idx.email(normalise_email("  " + address.upper() + " ")[1]) == base
    fullwidth = "".join(chr(ord(ch) + 0xFEE0) if "a" <= ch <= "z" else ch for ch in address.split("@")[0])
    assert idx.email(normalise_email(fullwidth + "@example.org")[1]) == base


def test_blind_indexes_differ_per_cluster_and_column() -> None:
    a, b = BlindIndexer(KEY, "alpha"), BlindIndexer(KEY, "beta")
    assert a.email("x@example.org") != b.email("x@example.org")
    assert a.email("+32470123456") != a.phone("+32470123456")
    assert len(a.email("x@example.org")) == 32


def test_random_bytes_are_never_handed_out_twice_across_threads() -> None:
    """Nonces, data keys and row ids come from per-thread blocks of OS randomness: no two draws
    may overlap, whichever thread makes them (a repeated GCM nonce under one key leaks both)."""
    import threading

    from consent_hub.crypto.randomness import BLOCK, random_bytes

    drawn: list[list[bytes]] = [[] for _ in range(4)]

    def draw(k: int) -> None:
        drawn[k] = [random_bytes(12) for _ in range(3 * BLOCK // 12)]  # several blocks each

    threads = [threading.Thread(target=draw, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [b for part in drawn for b in part]
    assert all(len(b) == 12 for b in everything)
    assert len(set(everything)) == len(everything)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_repeat_its_parents_random_bytes() -> None:
    from consent_hub.crypto.randomness import new_uuid, random_bytes

    random_bytes(12)  # the parent holds a partly used block
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it would hand out next, then leave at once
        os.close(read)
        os.write(write, random_bytes(64))
        os._exit(0)
    os.close(write)
    child = os.read(read, 64)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 64
    assert random_bytes(64) != child
    uid = new_uuid()
    assert uid.version == 4 and uid.variant == uuid.RFC_4122


def test_seals_of_one_row_use_distinct_nonces() -> None:
    row = uuid.uuid4()
    sealed = FieldCipher(KEY, "alpha").seal_many({f"c{i}": "Gent" for i in range(500)}, "people", row)
    nonces = {blob[1:13] for blob in sealed.values()}
    assert len(nonces) == 500
