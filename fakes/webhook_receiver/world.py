"""What the fake webhook receiver holds: accepted deliveries, seen delivery ids, counters and faults."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_REPLAY_WINDOW = 300


@dataclass
class ReceiverFaults:
    down: bool = False
    server_errors: int = 0
    delay_ms: float = 0
    fail_every: int = 0
    next_server_error: int = 500
    fail_counter: int = 0

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
        unknown = set(body) - {"down", "server_errors", "delay_ms", "fail_every"}
        if unknown:
            raise ValueError(f"Unknown fault keys: {sorted(unknown)}")
        down = body.get("down", False)
        if not isinstance(down, bool):
            raise ValueError("'down' must be true or false")
        values: dict[str, float] = {}
        for key in ("server_errors", "delay_ms", "fail_every"):
            value = body.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"'{key}' must be a non-negative number")
            if key != "delay_ms" and not isinstance(value, int):
                raise ValueError(f"'{key}' must be a non-negative integer")
            values[key] = value
        return cls(
            down=down,
            server_errors=int(values["server_errors"]),
            delay_ms=float(values["delay_ms"]),
            fail_every=int(values["fail_every"]),
        )


@dataclass(slots=True)
class _Delivery:
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
    deliveries: list[_Delivery] = field(default_factory=list)
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
