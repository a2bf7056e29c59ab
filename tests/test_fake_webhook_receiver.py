"""The fake signed-webhook receiver over real HTTP: the signing scheme, acceptance, refusals and faults."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fakes.server import RunningServer, serve_in_thread
from fakes.webhook_receiver import WebhookReceiverState, create_app, sign, verify_signature

SECRET = "whsec-fictional-test-secret"
PAYLOAD = {"event": "consent.changed", "person": "p-123", "email": "lien.desmet@example.org", "channel": "email"}


@pytest.fixture
def receiver() -> Iterator[tuple[RunningServer, httpx.Client, WebhookReceiverState]]:
    state = WebhookReceiverState()
    server = serve_in_thread(create_app(SECRET, state=state))
    client = httpx.Client(base_url=server.url, timeout=10)
    yield server, client, state
    client.close()
    server.stop()


def deliver(
    client: httpx.Client,
    body: bytes,
    *,
    delivery: str,
    timestamp: int | None = None,
    secret: str = SECRET,
    name: str = "crm",
    signature: str | None = None,
) -> httpx.Response:
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Timestamp": str(ts),
        "X-Hub-Signature": signature if signature is not None else sign(secret, ts, body),
        "X-Hub-Delivery": delivery,
    }
    return client.post(f"/hooks/{name}", content=body, headers=headers)


def body_of(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def test_sign_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(SECRET.encode(), b"1735689600." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1735689600, body) == f"sha256={expected}"
    assert verify_signature(SECRET, "1735689600", body, f"sha256={expected}")
    assert verify_signature(SECRET, "1735689600", body, f"SHA256={expected.upper()}")
    assert not verify_signature(SECRET, "1735689601", body, f"sha256={expected}")
    assert not verify_signature(SECRET, "1735689600", body + b" ", f"sha256={expected}")
    assert not verify_signature(SECRET, "1735689600", body, "sha256=é")


def test_valid_delivery_is_accepted_and_stored(
    receiver: tuple[RunningServer, httpx.Client, WebhookReceiverState],
) -> None:
    _, client, state = receiver
    body = body_of(PAYLOAD)
    response = deliver(client, body, delivery="d-1")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "accepted", "delivery_id": "d-1"}
    received = client.get("/_fake/received").json()
    assert len(received) == 1
    assert received[0]["name"] == "crm" and received[0]["delivery_id"] == "d-1"
    assert received[0]["body"] == body.decode() and received[0]["json"] == PAYLOAD
    assert state.received("crm") == received and state.received("other") == []


def test_bad_signatures_are_refused(receiver: tuple[RunningServer, httpx.Client, WebhookReceiverState]) -> None:
    _, client, _ = receiver
    body = body_of(PAYLOAD)
    ts = int(time.time())
    wrong_secret = deliver(client, body, delivery="d-2", secret="not-the-secret")
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "bad_signature"
    tampered = deliver(client, body.replace(b"p-123", b"p-124"), delivery="d-3", signature=sign(SECRET, ts, body))
    assert tampered.status_code == 401 and tampered.json()["error"] == "bad_signature"
    garbage = deliver(client, body, delivery="d-4", signature="sha256=nonsense")
    assert garbage.status_code == 401
    unsigned = client.post("/hooks/crm", content=body, headers={"X-Hub-Delivery": "d-5"})
    assert unsigned.status_code == 401 and unsigned.json()["error"] == "missing_header"
    assert client.get("/_fake/received").json() == []
    # a refused delivery id is not burnt: the genuine delivery still goes through
    assert deliver(client, body, delivery="d-2").status_code == 200


def test_stale_and_future_timestamps_are_refused(
    receiver: tuple[RunningServer, httpx.Client, WebhookReceiverState],
) -> None:
    _, client, _ = receiver
    body = body_of(PAYLOAD)
    now = int(time.time())
    stale = deliver(client, body, delivery="d-old", timestamp=now - 301)
    assert stale.status_code == 401 and stale.json()["error"] == "stale_timestamp"
    future = deliver(client, body, delivery="d-future", timestamp=now + 400)
    assert future.status_code == 401
    assert deliver(client, body, delivery="d-recent", timestamp=now - 250).status_code == 200


def test_replayed_delivery_is_refused(receiver: tuple[RunningServer, httpx.Client, WebhookReceiverState]) -> None:
    _, client, _ = receiver
    body = body_of(PAYLOAD)
    assert deliver(client, body, delivery="d-7").status_code == 200
    replay = deliver(client, body, delivery="d-7")  # re-signed with a fresh timestamp: still the same delivery
    assert replay.status_code == 409 and replay.json()["error"] == "replayed_delivery"
    assert deliver(client, body, delivery="d-7", name="other-hook").status_code == 200  # ids are per hook
    assert len(client.get("/_fake/received", params={"name": "crm"}).json()) == 1
    stats = client.get("/_fake/stats").json()
    assert stats["counters"]["accepted"] == 2 and stats["counters"]["replayed_delivery"] == 1


def test_faults_and_per_hook_secrets() -> None:
    state = WebhookReceiverState()
    with serve_in_thread(create_app({"crm": SECRET, "mail": "other-secret"}, state=state)) as server:
        client = httpx.Client(base_url=server.url, timeout=10)
        body = body_of(PAYLOAD)
        assert deliver(client, body, delivery="a", secret="other-secret", name="mail").status_code == 200
        assert deliver(client, body, delivery="a", name="mail").status_code == 401  # crm's secret on mail
        assert deliver(client, body, delivery="b", name="nope").status_code == 404

        assert client.post("/_fake/faults", json={"down": True}).status_code == 200
        down = deliver(client, body, delivery="c")
        assert down.status_code == 503 and down.json()["error"] == "unavailable"
        client.post("/_fake/faults", json={"server_errors": 2})
        assert [deliver(client, body, delivery="c").status_code for _ in range(3)] == [500, 503, 200]
        assert client.post("/_fake/faults", json={"bogus": 1}).status_code == 400
        client.post("/_fake/faults", json={})
        assert client.get("/_fake/faults").json()["faults"]["down"] is False

        assert client.delete("/_fake/received").status_code == 200
        assert state.received() == []
        client.close()
