"""A fake receiver for the hub's generic signed webhooks: it verifies each delivery and keeps the accepted ones.

The signing scheme (the hub's sender uses the same; :func:`sign` computes it):

* The request is ``POST /hooks/{name}`` with the payload as the raw body (the receiver never re-serialises it;
  the signature covers the exact bytes sent) and three headers:

  - ``X-Hub-Timestamp``: the time of signing in whole seconds since the Unix epoch, as ASCII decimal digits
    (no sign, no fraction), e.g. ``1735689600``.
  - ``X-Hub-Delivery``: an id unique to the delivery (a UUID, say). A retry of the same delivery keeps its id
    and is signed afresh with a new timestamp.
  - ``X-Hub-Signature``: ``sha256=`` followed by the lower-case hex HMAC-SHA256 whose key is the shared secret
    encoded as UTF-8 and whose message is the timestamp string in ASCII, one ``.`` (0x2E) and the raw body:
    ``hex(HMAC_SHA256(secret, timestamp + "." + body))``.

* The receiver recomputes the HMAC over the bytes it received and compares it in constant time
  (:func:`hmac.compare_digest`); upper-case hex is accepted. Missing or malformed headers and a wrong signature
  answer 401. A timestamp more than ``replay_window`` seconds (default 300) before or after the receiver's clock
  answers 401 (stale). A delivery id already accepted for the same hook answers 409 (replay): a sender may treat
  409 as "delivered before". An accepted delivery answers 200 ``{"status": "accepted", "delivery_id": ...}``.
  Checks run in that order: signature, then timestamp, then delivery id, so an unsigned request learns nothing.
  With a mapping of secrets (one per hook name) an unknown hook name answers 404.

* The delivery id is not covered by the signature. Within the replay window, a captured request replayed under
  a new ``X-Hub-Delivery`` would pass; payloads should carry their own event id if that matters to a receiver.

Refusals are JSON ``{"error": <code>, "detail": <text>}`` with codes ``missing_header``, ``bad_signature``,
``stale_timestamp``, ``replayed_delivery``, ``unknown_hook``, ``unavailable``, ``server_error``.

Control endpoints (no auth): ``GET /_fake/received?name=`` lists accepted deliveries ``[{"seq", "name",
"delivery_id", "timestamp", "received_at", "content_type", "body", "json"}]`` (``body`` as text, ``json`` the
parsed body or ``null``); ``DELETE /_fake/received`` forgets deliveries and delivery ids; ``POST /_fake/faults``
``{"down": bool, "server_errors": k, "delay_ms": ms, "fail_every": k}`` (``{}`` resets; ``down`` answers 503,
``server_errors`` answers 500 and 503 alternately, ``fail_every`` 503 every k-th delivery), ``GET /_fake/faults``;
``GET /_fake/stats``. Faults apply to ``/hooks/...`` only and before any check.

The state (:class:`WebhookReceiverState`) can live outside the app so a restarted server keeps what it received.
"""

from fakes.webhook_receiver.app import create_app
from fakes.webhook_receiver.signing import sign, verify_signature
from fakes.webhook_receiver.world import DEFAULT_REPLAY_WINDOW, ReceiverFaults, WebhookReceiverState

__all__ = [
    "DEFAULT_REPLAY_WINDOW",
    "ReceiverFaults",
    "WebhookReceiverState",
    "create_app",
    "sign",
    "verify_signature",
]
