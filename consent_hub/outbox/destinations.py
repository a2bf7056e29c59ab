"""What the outbox hands a destination adapter, and what an adapter promises. Adapters live in
``connectors/destinations`` and are found through the ``consent_hub.destinations`` entry points."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from consent_hub.config import DestinationConfig
from consent_hub.errors import SyncError
from consent_hub.plugins import destination_builder


@dataclass(frozen=True)
class Outgoing:
    delivery_id: uuid.UUID
    destination: str
    kind: str  # upsert | unsubscribe | erase | restriction | restriction-lifted
    person_ref: str  # the hub person id; adapters may use it as their own external id
    fields: dict[str, str | None] = field(default_factory=dict)  # only those the purpose allows
    handle: dict[str, Any] = field(default_factory=dict)  # what an erasure needs once the key is gone


class DeliveryFailed(SyncError):
    """``retryable``: try again later (429, 5xx, timeouts); otherwise the delivery is dead."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


class Destination(Protocol):
    """An adapter may set ``knows_people_by_address = False`` on its class when it identifies
    people by their hub id: the worker then decrypts no address for its unsubscribes and
    restrictions (the default is True: a mailing tool keys its members by address)."""

    def deliver(self, message: Outgoing) -> dict[str, Any]:
        """Send one message; return the receipt (ids and status, no personal data)."""

    def erasure_handle(self, email: str | None) -> dict[str, Any]:
        """What this destination will need to erase the person after their key is destroyed."""

    def members(self) -> list[dict[str, Any]]:
        """What the destination holds now (for reconciliation): [{"handle": ..., "status": ...}]."""

    def close(self) -> None: ...


def destination_factory(kind: str) -> Callable[[str, DestinationConfig], Destination]:
    return destination_builder(kind)
