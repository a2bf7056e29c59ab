"""AES-256-GCM field ciphertexts bound to (cluster, table, column, row id).

Stored blob: ``version (1 byte) | nonce (12) | ciphertext + tag``. The plaintext is padded to a
multiple of 16 bytes (ISO/IEC 7816-4) so that a ciphertext's length tells little about the value.
The associated data is length-prefixed so no two locations share an encoding.
"""

from __future__ import annotations

import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consent_hub.errors import DecryptionError

FIELD_VERSION = 1
_PAD_BLOCK = 16
_AAD_TAG = b"consent-hub/field/v1"


def field_aad(cluster: str, table: str, column: str, row_id: uuid.UUID) -> bytes:
    parts = (_AAD_TAG, cluster.encode(), table.encode(), column.encode(), row_id.bytes)
    return b"".join(len(p).to_bytes(2, "big") + p for p in parts)


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
        nonce = os.urandom(12)
        aad = field_aad(self.cluster, table, column, row_id)
        return bytes((FIELD_VERSION,)) + nonce + self._aead.encrypt(nonce, _pad(value.encode("utf-8")), aad)

    def open(self, blob: bytes, table: str, column: str, row_id: uuid.UUID) -> str:
        if len(blob) < 29 or blob[0] != FIELD_VERSION:
            raise DecryptionError("ciphertext has an unknown format version")
        aad = field_aad(self.cluster, table, column, row_id)
        try:
            raw = self._aead.decrypt(blob[1:13], blob[13:], aad)
        except InvalidTag:
            raise DecryptionError(f"ciphertext of {table}.{column} does not open for this row and key") from None
        return _unpad(raw).decode("utf-8")


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)
