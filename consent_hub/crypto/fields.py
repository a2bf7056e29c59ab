"""AES-256-GCM field ciphertexts bound to (cluster, table, column, row id).

Stored blob: ``version (1 byte) | nonce (12) | ciphertext + tag``. The plaintext is padded to a
multiple of 16 bytes (ISO/IEC 7816-4) so that a ciphertext's length tells little about the value.
The associated data is length-prefixed so no two locations share an encoding.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consent_hub.crypto.randomness import random_bytes
from consent_hub.errors import DecryptionError

FIELD_VERSION = 1
_VERSION_BYTE = bytes((FIELD_VERSION,))
_PAD_BLOCK = 16
_AAD_TAG = b"consent-hub/field/v1"


def length_prefixed(*parts: bytes) -> bytes:
    """Each part behind its 2-byte big-endian length: the encoding of every associated data."""
    return b"".join(len(p).to_bytes(2, "big") + p for p in parts)


@functools.lru_cache(maxsize=1024)
def _aad_prefix(cluster: str, table: str, column: str) -> bytes:
    # the row id (16 bytes) is appended per call, its length is part of the prefix
    return length_prefixed(_AAD_TAG, cluster.encode(), table.encode(), column.encode()) + (16).to_bytes(2, "big")


def field_aad(cluster: str, table: str, column: str, row_id: uuid.UUID) -> bytes:
    """Length-prefixed (tag, cluster, table, column, row id): no two locations encode alike."""
    return _aad_prefix(cluster, table, column) + row_id.bytes


def _pad(raw: bytes) -> bytes:
    fill = _PAD_BLOCK - (len(raw) + 1) % _PAD_BLOCK
    return raw + b"\x80" + b"\x00" * (fill % _PAD_BLOCK)


def _unpad(raw: bytes) -> bytes:
    end = raw.rstrip(b"\x00")
    if not end.endswith(b"\x80"):
        raise DecryptionError("ciphertext padding is invalid")
    return end[:-1]


class FieldCipher:
    """Seals and opens one person's fields with that person's data key."""

    __slots__ = ("_aead", "cluster")

    def __init__(self, data_key: bytes, cluster: str) -> None:
        self._aead = AESGCM(data_key)
        self.cluster = cluster

    def seal(self, value: str, table: str, column: str, row_id: uuid.UUID) -> bytes:
        return self._seal(value, _aad_prefix(self.cluster, table, column) + row_id.bytes)

    def _seal(self, value: str, aad: bytes) -> bytes:
        nonce = random_bytes(12)
        return _VERSION_BYTE + nonce + self._aead.encrypt(nonce, _pad(value.encode("utf-8")), aad)

    def seal_many(self, values: Mapping[str, str], table: str, row_id: uuid.UUID) -> dict[str, bytes]:
        """Seal several columns of one row (the row id is encoded once)."""
        row = row_id.bytes
        cluster = self.cluster
        return {
            column: self._seal(value, _aad_prefix(cluster, table, column) + row) for column, value in values.items()
        }

    def open(self, blob: bytes, table: str, column: str, row_id: uuid.UUID) -> str:
        return self._open(blob, _aad_prefix(self.cluster, table, column) + row_id.bytes, table, column)

    def _open(self, blob: bytes, aad: bytes, table: str, column: str) -> str:
        if len(blob) < 29 or blob[0] != FIELD_VERSION:
            raise DecryptionError("ciphertext has an unknown format version")
        view = memoryview(blob)
        try:
            raw = self._aead.decrypt(view[1:13], view[13:], aad)
        except InvalidTag:
            raise DecryptionError(f"ciphertext of {table}.{column} does not open for this row and key") from None
        return _unpad(raw).decode("utf-8")

    def open_many(
        self, blobs: Iterable[tuple[str, bytes | None]], table: str, row_id: uuid.UUID
    ) -> dict[str, str | None]:
        """Open several columns of one row; ``None`` stays ``None``. (The hot path of bulk reads,
        hence written out rather than calling ``open`` per column.)"""
        row = row_id.bytes
        cluster = self.cluster
        decrypt = self._aead.decrypt
        out: dict[str, str | None] = {}
        for column, blob in blobs:
            if blob is None:
                out[column] = None
                continue
            if len(blob) < 29 or blob[0] != FIELD_VERSION:
                raise DecryptionError("ciphertext has an unknown format version")
            try:
                raw = decrypt(blob[1:13], blob[13:], _aad_prefix(cluster, table, column) + row)
            except InvalidTag:
                raise DecryptionError(f"ciphertext of {table}.{column} does not open for this row and key") from None
            out[column] = _unpad(raw).decode("utf-8")
        return out


def new_data_key() -> bytes:
    return random_bytes(32)  # an AES-256 key, as AESGCM.generate_key(bit_length=256) makes it
