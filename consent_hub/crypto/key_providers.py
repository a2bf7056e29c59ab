"""Key providers: where a cluster's key-encryption keys, blind-index key and audit signing key live.

The interface wraps and unwraps data keys instead of handing out the KEK, so a KMS provider (Vault
transit, a cloud KMS) can implement it without the KEK ever leaving the KMS. The local providers
hold the KEK in memory and wrap with AES-256-GCM.

Keyring JSON (file, mounted secret or environment variable)::

    {"format": "consent-hub-keyring/1", "cluster": "gent", "current_kek": 2,
     "keks": {"1": "<base64 32 bytes>", "2": "..."},
     "blind_index_key": "<base64 32 bytes>", "audit_signing_key": "<base64 Ed25519 seed>"}
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import stat
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consent_hub.config import ClusterConfig, HubSettings
from consent_hub.crypto.fields import length_prefixed
from consent_hub.crypto.randomness import random_bytes
from consent_hub.errors import DecryptionError, KeyringError

KEYRING_FORMAT = "consent-hub-keyring/1"
WRAP_VERSION = 1


@dataclass(frozen=True)
class ClusterKeys:
    """The cluster's key material as held by a local provider."""

    cluster: str
    current_kek: int
    keks: dict[int, bytes]
    blind_index_key: bytes
    audit_signing_key: bytes

    def to_json(self) -> str:
        doc = {
            "format": KEYRING_FORMAT,
            "cluster": self.cluster,
            "current_kek": self.current_kek,
            "keks": {str(v): _b64(k) for v, k in sorted(self.keks.items())},
            "blind_index_key": _b64(self.blind_index_key),
            "audit_signing_key": _b64(self.audit_signing_key),
        }
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def generate(cls, cluster: str) -> ClusterKeys:
        return cls(
            cluster=cluster,
            current_kek=1,
            keks={1: os.urandom(32)},
            blind_index_key=os.urandom(32),
            audit_signing_key=os.urandom(32),
        )

    @classmethod
    def parse(cls, text: str, *, expected_cluster: str, source: str) -> ClusterKeys:
        def broken(why: str) -> KeyringError:
            return KeyringError(f"keyring for cluster {expected_cluster!r} ({source}) {why}")

        try:
            doc = json.loads(text)
        except ValueError:
            raise broken("is not valid JSON") from None
        if not isinstance(doc, dict) or doc.get("format") != KEYRING_FORMAT:
            raise broken(f"is not a {KEYRING_FORMAT} document")
        if doc.get("cluster") != expected_cluster:
            raise broken("belongs to another cluster")
        try:
            keks = {int(v): _unb64(k, 32) for v, k in dict(doc["keks"]).items()}
            current = int(doc["current_kek"])
            bidx = _unb64(doc["blind_index_key"], 32)
            signing = _unb64(doc["audit_signing_key"], 32)
        except (KeyError, TypeError, ValueError):
            raise broken("is missing a key or holds a key of the wrong length") from None
        if current not in keks:
            raise broken("names a current KEK version it does not hold")
        return cls(expected_cluster, current, keks, bidx, signing)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: Any, length: int) -> bytes:
    try:
        raw = base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("bad base64") from None
    if len(raw) != length:
        raise ValueError("bad length")
    return raw


@functools.lru_cache(maxsize=64)
def _wrap_aad_ends(cluster: str, kek_version: int) -> tuple[bytes, bytes]:
    return length_prefixed(b"consent-hub/dek/v1", cluster.encode()), length_prefixed(str(kek_version).encode())


def _wrap_aad(cluster: str, person_id: bytes, kek_version: int) -> bytes:
    """Length-prefixed (tag, cluster, person id, KEK version); the parts that do not depend on
    the person are built once (a bulk read unwraps thousands of keys)."""
    head, tail = _wrap_aad_ends(cluster, kek_version)
    return head + length_prefixed(person_id) + tail


class KeyProvider(ABC):
    """What the hub needs from a key store, per cluster."""

    cluster: str

    @abstractmethod
    def current_kek_version(self) -> int: ...

    @abstractmethod
    def kek_versions(self) -> list[int]: ...

    @abstractmethod
    def wrap_data_key(self, data_key: bytes, person_id: bytes, kek_version: int) -> bytes:
        """Wrap a person's data key; the person id and KEK version are bound as associated data."""

    @abstractmethod
    def unwrap_data_key(self, wrapped: bytes, person_id: bytes, kek_version: int) -> bytes: ...

    @abstractmethod
    def blind_index_key(self) -> bytes: ...

    @abstractmethod
    def audit_signing_key(self) -> Ed25519PrivateKey: ...

    def audit_public_key(self) -> Ed25519PublicKey:
        return self.audit_signing_key().public_key()

    def add_kek_version(self) -> int:
        """Create a new KEK version and make it current (writable providers only)."""
        raise KeyringError(
            f"the key provider of cluster {self.cluster!r} is read-only: provision a new KEK "
            "version in the secret store, then run `consent-hub keys rotate` again"
        )

    def retire_kek_version(self, version: int) -> None:
        raise KeyringError(f"the key provider of cluster {self.cluster!r} is read-only")


class LocalKeyProvider(KeyProvider):
    """Keys held in process memory, loaded from a keyring JSON document."""

    def __init__(self, keys: ClusterKeys) -> None:
        self.cluster = keys.cluster
        self._keys = keys
        self._aead = {v: AESGCM(k) for v, k in keys.keks.items()}
        self._signer = Ed25519PrivateKey.from_private_bytes(keys.audit_signing_key)

    def current_kek_version(self) -> int:
        return self._keys.current_kek

    def kek_versions(self) -> list[int]:
        return sorted(self._keys.keks)

    def _kek(self, version: int) -> AESGCM:
        try:
            return self._aead[version]
        except KeyError:
            raise KeyringError(f"KEK version {version} of cluster {self.cluster!r} is not in the keyring") from None

    def wrap_data_key(self, data_key: bytes, person_id: bytes, kek_version: int) -> bytes:
        nonce = random_bytes(12)
        aad = _wrap_aad(self.cluster, person_id, kek_version)
        return bytes((WRAP_VERSION,)) + nonce + self._kek(kek_version).encrypt(nonce, data_key, aad)

    def unwrap_data_key(self, wrapped: bytes, person_id: bytes, kek_version: int) -> bytes:
        if len(wrapped) != 61 or wrapped[0] != WRAP_VERSION:
            raise DecryptionError("wrapped data key has an unknown format")
        aad = _wrap_aad(self.cluster, person_id, kek_version)
        try:
            return self._kek(kek_version).decrypt(wrapped[1:13], wrapped[13:], aad)
        except InvalidTag:
            raise DecryptionError("data key does not unwrap under this cluster's KEK") from None

    def blind_index_key(self) -> bytes:
        return self._keys.blind_index_key

    def audit_signing_key(self) -> Ed25519PrivateKey:
        return self._signer

    def _replace(self, keys: ClusterKeys) -> None:
        self.__init__(keys)  # type: ignore[misc]


class KeyringFileProvider(LocalKeyProvider):
    """Development keyring file. Refused unless it is a regular file readable by its owner only."""

    def __init__(self, path: Path, cluster: str) -> None:
        self.path = path
        super().__init__(self._load(path, cluster))

    @staticmethod
    def _load(path: Path, cluster: str) -> ClusterKeys:
        try:
            st = path.stat()
        except FileNotFoundError:
            raise KeyringError(
                f"keyring for cluster {cluster!r} not found ({path.name}); run `consent-hub init`"
            ) from None
        if not stat.S_ISREG(st.st_mode):
            raise KeyringError(f"keyring for cluster {cluster!r} ({path.name}) is not a file")
        if st.st_mode & 0o077:
            raise KeyringError(
                f"keyring for cluster {cluster!r} ({path.name}) is readable by others "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); it must be 0600"
            )
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            raise KeyringError(f"keyring for cluster {cluster!r} ({path.name}) is unreadable") from None
        return ClusterKeys.parse(text, expected_cluster=cluster, source=path.name)

    def add_kek_version(self) -> int:
        version = max(self._keys.keks) + 1
        keys = ClusterKeys(
            cluster=self.cluster,
            current_kek=version,
            keks={**self._keys.keks, version: os.urandom(32)},
            blind_index_key=self._keys.blind_index_key,
            audit_signing_key=self._keys.audit_signing_key,
        )
        _write_private(self.path, keys.to_json())
        self._replace(keys)
        return version

    def retire_kek_version(self, version: int) -> None:
        if version not in self._keys.keks:
            raise KeyringError(f"KEK version {version} is not in the keyring of cluster {self.cluster!r}")
        if version == self._keys.current_kek:
            raise KeyringError("the current KEK version cannot be retired")
        keks = {v: k for v, k in self._keys.keks.items() if v != version}
        keys = ClusterKeys(
            self.cluster,
            self._keys.current_kek,
            keks,
            self._keys.blind_index_key,
            self._keys.audit_signing_key,
        )
        _write_private(self.path, keys.to_json())
        self._replace(keys)

    def _replace(self, keys: ClusterKeys) -> None:
        LocalKeyProvider.__init__(self, keys)


class SecretFileProvider(LocalKeyProvider):
    """A keyring mounted read-only by the platform's secret store."""

    def __init__(self, path: Path, cluster: str) -> None:
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            raise KeyringError(
                f"mounted keyring for cluster {cluster!r} ({path.name}) is missing or unreadable"
            ) from None
        if path.stat().st_mode & 0o002:
            raise KeyringError(f"mounted keyring for cluster {cluster!r} is world-writable")
        super().__init__(ClusterKeys.parse(text, expected_cluster=cluster, source=path.name))


class EnvironmentKeyProvider(LocalKeyProvider):
    """The keyring JSON, or its base64, in an environment variable."""

    def __init__(self, variable: str, cluster: str) -> None:
        text = os.environ.get(variable)
        if not text:
            raise KeyringError(f"environment variable {variable} for cluster {cluster!r} is not set")
        if not text.lstrip().startswith("{"):
            try:
                text = base64.b64decode(text, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                raise KeyringError(f"environment variable {variable} is neither JSON nor base64") from None
        super().__init__(ClusterKeys.parse(text, expected_cluster=cluster, source=variable))


def _write_private(path: Path, text: str) -> None:
    """Write atomically with mode 0600 from the first byte (no window where the file is readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".keyring-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_keyring_file(path: Path, cluster: str) -> None:
    if path.exists():
        raise KeyringError(f"keyring for cluster {cluster!r} already exists; refusing to overwrite")
    _write_private(path, ClusterKeys.generate(cluster).to_json())


def provider_for(settings: HubSettings, cluster: str) -> KeyProvider:
    cfg: ClusterConfig = settings.cluster(cluster)
    keys = cfg.keys
    if keys.provider == "keyring":
        return KeyringFileProvider(settings.resolve_path(keys.path), cluster)
    if keys.provider == "secret-file":
        return SecretFileProvider(settings.resolve_path(keys.path), cluster)
    return EnvironmentKeyProvider(keys.variable, cluster)
