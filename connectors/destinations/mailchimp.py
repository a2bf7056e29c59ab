"""A Mailchimp-shaped audience (Marketing API v3) as an outbox destination.

- upsert / unsubscribe: ``PUT /lists/{list_id}/members/{subscriber_hash}`` (MD5 of the lower-cased
  address) with ``status`` and ``status_if_new``, merge fields FNAME / LNAME and the language;
- erase: ``POST /lists/{list_id}/members/{hash}/actions/delete-permanent`` (a 404 means nothing is
  left to erase, which is the goal);
- restriction (GDPR Art. 18): ``DELETE /lists/{list_id}/members/{hash}``, which archives the member
  (status ``archived``; the record stays, no mail goes out); a 404 means the audience does not
  hold them, which is the goal. A lift needs no call of its own: the upsert that follows it (when
  the consent holds) brings an archived member back through ``status_if_new``;
- members (reconciliation): ``GET /lists/{list_id}/members?count=&offset=``.

The API's error ``detail`` can quote the address; only the status and ``title`` are kept. A
receipt never holds the member's ``id``: it is the MD5 of the address, which anyone holding a
candidate address could test against (the hub addresses members by their address, or by the
erasure handle until the erase is acknowledged).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

import httpx

from connectors.sources.base import retry_after_seconds
from consent_hub.config import DestinationConfig
from consent_hub.errors import ConfigurationError
from consent_hub.outbox.destinations import DeliveryFailed, Outgoing

LANGUAGES = {"nl": "nl", "fr": "fr", "en": "en"}


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode("utf-8"), usedforsecurity=False).hexdigest()


class MailchimpDestination:
    def __init__(self, name: str, config: DestinationConfig, transport: httpx.BaseTransport | None = None) -> None:
        if not config.list_id:
            raise ConfigurationError(f"destination {name}: list_id is required for kind mailchimp")
        key = config.credential(config.api_key, config.api_key_env, f"{name}: api key")
        self.name = name
        self.list_id = config.list_id
        self.batch_timeout = 120.0
        self.client = httpx.Client(
            base_url=config.base_url.rstrip("/"),
            auth=("consent-hub", key),
            timeout=config.timeout_seconds,
            transport=transport,
        )

    def close(self) -> None:
        self.client.close()

    def erasure_handle(self, email: str | None) -> dict[str, Any]:
        return {"subscriber_hash": subscriber_hash(email)} if email else {}

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        try:
            response = self.client.request(method, path, json=body)
        except httpx.TimeoutException:
            raise DeliveryFailed("timeout", retryable=True) from None
        except httpx.TransportError as exc:
            raise DeliveryFailed(f"connection failed ({type(exc).__name__})", retryable=True) from None
        if response.status_code == 429 or response.status_code >= 500:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            raise DeliveryFailed(f"HTTP {response.status_code}", retryable=True, retry_after=wait)
        return response

    @staticmethod
    def _title(response: httpx.Response) -> str:
        try:
            title = response.json().get("title")
        except ValueError:
            title = None
        return f"HTTP {response.status_code}" + (f" {title}" if isinstance(title, str) else "")

    def _request(self, message: Outgoing) -> tuple[str, str, dict[str, Any] | None] | None:
        """(method, path, body) of one delivery; None when there is nothing to address."""
        members = f"/lists/{self.list_id}/members"
        if message.kind == "erase":
            handle = message.handle.get("subscriber_hash")
            return ("POST", f"{members}/{handle}/actions/delete-permanent", None) if handle else None
        if message.kind == "restriction-lifted":
            return None
        email = message.fields.get("email")
        if not email:
            return None
        if message.kind == "restriction":
            return "DELETE", f"{members}/{subscriber_hash(email)}", None
        status = "subscribed" if message.kind == "upsert" else "unsubscribed"
        body: dict[str, Any] = {"email_address": email, "status": status, "status_if_new": status}
        if message.kind == "upsert":
            body["merge_fields"] = {
                "FNAME": message.fields.get("given_name") or "",
                "LNAME": message.fields.get("family_name") or "",
            }
            language = LANGUAGES.get((message.fields.get("language") or "")[:2])
            if language:
                body["language"] = language
        return "PUT", f"{members}/{subscriber_hash(email)}", body

    @staticmethod
    def _nothing_to_address(message: Outgoing) -> dict[str, Any] | DeliveryFailed:
        if message.kind == "erase":
            return {"erased": False, "reason": "no address was known"}
        if message.kind == "restriction":
            return {"archived": False, "reason": "no address: the audience cannot hold the person"}
        if message.kind == "restriction-lifted":
            return {"lifted": True, "reason": "no call: the current state follows as its own delivery"}
        return DeliveryFailed("the person has no e-mail address", retryable=False)

    def deliver(self, message: Outgoing) -> dict[str, Any]:
        request = self._request(message)
        if request is None:
            outcome = self._nothing_to_address(message)
            if isinstance(outcome, DeliveryFailed):
                raise outcome
            return outcome
        method, path, body = request
        response = self._call(method, path, body)
        if message.kind == "erase" and response.status_code in (200, 204, 404):
            return {"erased": True, "http": response.status_code}
        if message.kind == "restriction" and response.status_code in (200, 204, 404):
            return {"archived": True, "http": response.status_code}
        if message.kind in ("erase", "restriction") or response.status_code != 200:
            raise DeliveryFailed(self._title(response), retryable=False)
        member = response.json()
        return {"status": member.get("status"), "last_changed": member.get("last_changed")}

    def deliver_many(self, messages: list[Outgoing]) -> dict[uuid.UUID, dict[str, Any] | DeliveryFailed]:
        """One batch operation (``POST /batches``), polled until finished; each operation's own
        status decides its delivery's fate, as a single request's would."""
        out: dict[uuid.UUID, dict[str, Any] | DeliveryFailed] = {}
        operations = []
        kinds = {str(m.delivery_id): m.kind for m in messages}
        for message in messages:
            request = self._request(message)
            if request is None:
                out[message.delivery_id] = self._nothing_to_address(message)
                continue
            method, path, body = request
            op: dict[str, Any] = {"method": method, "path": path, "operation_id": str(message.delivery_id)}
            if body is not None:
                op["body"] = json.dumps(body)
            operations.append(op)
        if not operations:
            return out
        response = self._call("POST", "/batches", {"operations": operations})
        if response.status_code != 200:
            raise DeliveryFailed(self._title(response), retryable=False)
        batch_id = response.json()["id"]
        deadline = time.monotonic() + self.batch_timeout
        while True:
            state = self._call("GET", f"/batches/{batch_id}").json()
            if state.get("status") == "finished":
                break
            if time.monotonic() > deadline:
                raise DeliveryFailed("batch did not finish in time", retryable=True)
            time.sleep(0.05)
        results_url = state.get("response_body_url")
        try:
            results = httpx.get(results_url, timeout=self.client.timeout).json() if results_url else []
        except (httpx.HTTPError, ValueError):
            raise DeliveryFailed("batch results unreadable", retryable=True) from None
        for result in results:
            delivery_id = uuid.UUID(str(result.get("operation_id")))
            code = int(result.get("status_code", 0))
            # a member that is not there is the goal of an erasure or a restriction
            removal = kinds.get(str(result.get("operation_id"))) in ("erase", "restriction")
            if code in (200, 204) or (code == 404 and removal):
                try:
                    member = json.loads(result.get("response") or "{}")
                except ValueError:
                    member = {}
                out[delivery_id] = {"status": member.get("status"), "batch": batch_id, "http": code}
            elif code == 429 or code >= 500:
                out[delivery_id] = DeliveryFailed(f"HTTP {code} in batch", retryable=True)
            else:
                out[delivery_id] = DeliveryFailed(f"HTTP {code} in batch", retryable=False)
        return out

    def members(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            response = self._call("GET", f"/lists/{self.list_id}/members?count=1000&offset={offset}")
            if response.status_code != 200:
                raise DeliveryFailed(self._title(response), retryable=False)
            page = response.json().get("members", [])
            out.extend({"handle": {"subscriber_hash": m.get("id")}, "status": m.get("status")} for m in page)
            if len(page) < 1000:
                return out
            offset += len(page)


def build(name: str, config: DestinationConfig) -> MailchimpDestination:
    return MailchimpDestination(name, config)
