"""A generic signed webhook as an outbox destination.

Each delivery is ``POST <base_url>`` with a JSON body ``{"delivery", "kind", "person", "fields",
"sent_at"}`` and three headers: ``X-Hub-Delivery`` (the delivery id; a receiver that has seen it
answers 409, which counts as delivered), ``X-Hub-Timestamp`` (unix seconds) and
``X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``. Receivers refuse
timestamps outside their replay window. An erasure carries no fields, only the person's hub id;
so do a restriction of processing (``kind`` "restriction": stop processing, keep nothing beyond
storage) and its end ("restriction-lifted"; the person's current state follows as an upsert when
their consent holds).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from connectors.sources.base import retry_after_seconds
from consent_hub.config import DestinationConfig
from consent_hub.outbox.destinations import DeliveryFailed, Outgoing


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookDestination:
    knows_people_by_address = False  # the receiver knows the hub id: no address is read to tell it

    def __init__(self, name: str, config: DestinationConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.name = name
        self.url = config.base_url
        self.secret = config.credential(config.secret, config.secret_env, f"{name}: secret")
        self.client = httpx.Client(timeout=config.timeout_seconds, transport=transport)

    def close(self) -> None:
        self.client.close()

    def erasure_handle(self, email: str | None) -> dict[str, Any]:
        return {}  # the receiver knows the person by the hub id it was sent

    def members(self) -> list[dict[str, Any]]:
        return []  # a webhook keeps no list the hub could compare

    def deliver(self, message: Outgoing) -> dict[str, Any]:
        now = int(time.time())
        body = json.dumps(
            {
                "delivery": str(message.delivery_id),
                "kind": message.kind,
                "person": message.person_ref,
                "fields": message.fields if message.kind == "upsert" else {},
                "sent_at": now,
            },
            sort_keys=True,
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Delivery": str(message.delivery_id),
            "X-Hub-Timestamp": str(now),
            "X-Hub-Signature": signature(self.secret, now, body),
        }
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise DeliveryFailed("timeout", retryable=True) from None
        except httpx.TransportError as exc:
            raise DeliveryFailed(f"connection failed ({type(exc).__name__})", retryable=True) from None
        if response.status_code == 429 or response.status_code >= 500:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            raise DeliveryFailed(f"HTTP {response.status_code}", retryable=True, retry_after=wait)
        if response.status_code == 409:
            return {"http": 409, "duplicate": True}
        if response.status_code >= 300:
            raise DeliveryFailed(f"HTTP {response.status_code}", retryable=False)
        return {"http": response.status_code}


def build(name: str, config: DestinationConfig) -> WebhookDestination:
    return WebhookDestination(name, config)
