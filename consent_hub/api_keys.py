"""The API key format, ``chk_<cluster>_<key id>_<secret>``: read by the request context (to open the
key's cluster) before the clients domain checks the key against that cluster's database."""

from __future__ import annotations

from consent_hub.config import SLUG
from consent_hub.errors import Unauthenticated

PREFIX = "chk"


def parse_key(token: str) -> tuple[str, str, str]:
    """Split a bearer key into (cluster, key id, secret) without touching any database."""
    parts = token.split("_", 3)
    if (
        len(parts) != 4
        or parts[0] != PREFIX
        or not SLUG.match(parts[1])
        or not parts[2].isalnum()
        or len(parts[3]) < 32
    ):
        raise Unauthenticated("malformed API key")
    return parts[1], parts[2], parts[3]
