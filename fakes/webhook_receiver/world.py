"""What the fake webhook receiver holds: accepted deliveries, seen delivery ids, counters and faults."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fakes import faults as checks
from fakes.faults import FaultPlan

DEFAULT_REPLAY_WINDOW = 300


@dataclass
class ReceiverFaults(FaultPlan):
    """The shared plan (no rate limit here) and "down"."""

    down: bool = False
    next_server_error: int = 500

    def describe(self) -> dict[str, Any]:
        return {
            "down": self.down,
            "server_errors": self.server_errors,
            "delay_ms": self.delay_ms,
            "fail_every": self.fail_every,
        }

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> ReceiverFaults:
        """A fresh configuration (keys left out are off). Raises ``ValueError``."""
        checks.refuse_unknown(body, {"down", "server_errors", "delay_ms", "fail_every"})
        return cls(
            down=checks.flag(body, "down"),
            server_errors=checks.count(body, "server_errors"),
            delay_ms=checks.number(body, "delay_ms"),
            fail_every=checks.count(body, "fail_every"),
        )


@dataclass(slots=True)
class Delivery:
    seq: int
    name: str
    delivery_id: str
    timestamp: int
    received_at: str
    content_type: str
    body: bytes

    def to_json(self) -> dict[str, Any]:
        text = self.body.decode("utf-8", errors="replace")
        try:
            parsed: Any = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            parsed = None
        return {
            "seq": self.seq,
            "name": self.name,
            "delivery_id": self.delivery_id,
            "timestamp": self.timestamp,
            "received_at": self.received_at,
            "content_type": self.content_type,
            "body": text,
            "json": parsed,
        }


@dataclass
class WebhookReceiverState:
    """Accepted deliveries, the delivery ids seen per hook, faults and counters."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    deliveries: list[Delivery] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)
    faults: ReceiverFaults = field(default_factory=ReceiverFaults)
    counters: Counter[str] = field(default_factory=Counter)

    def received(self, name: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [d.to_json() for d in self.deliveries if name is None or d.name == name]

    def clear(self) -> None:
        with self.lock:
            self.deliveries.clear()
            self.seen.clear()
