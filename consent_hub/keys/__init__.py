"""Cluster key providers. None of these keys is ever stored in a cluster database."""

from consent_hub.crypto.key_providers import (
    ClusterKeys,
    EnvironmentKeyProvider,
    KeyProvider,
    KeyringFileProvider,
    SecretFileProvider,
    create_keyring_file,
    provider_for,
)

__all__ = [
    "ClusterKeys",
    "EnvironmentKeyProvider",
    "KeyProvider",
    "KeyringFileProvider",
    "SecretFileProvider",
    "create_keyring_file",
    "provider_for",
]
