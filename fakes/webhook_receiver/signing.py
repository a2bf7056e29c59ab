"""The hub's webhook signature scheme, as a receiver checks it."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_PREFIX = "sha256="
TIMESTAMP_HEADER = "X-Hub-Timestamp"
SIGNATURE_HEADER = "X-Hub-Signature"
DELIVERY_HEADER = "X-Hub-Delivery"


def _mac(secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode("ascii") + b"." + body
    return SIGNATURE_PREFIX + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Hub-Signature`` value: ``sha256=<hex HMAC-SHA256(secret, f"{timestamp}." + body)>``."""
    return _mac(secret, str(int(timestamp)), body)


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Whether ``signature`` (a header value) signs ``timestamp`` (the header's text) and ``body``; constant time."""
    if not timestamp.isascii() or not timestamp.isdigit():
        return False
    expected = _mac(secret, timestamp, body).encode("ascii")
    given = signature.strip()
    if given[: len(SIGNATURE_PREFIX)].lower() == SIGNATURE_PREFIX:
        given = SIGNATURE_PREFIX + given[len(SIGNATURE_PREFIX) :].lower()
    return hmac.compare_digest(expected, given.encode("utf-8"))
