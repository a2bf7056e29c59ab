"""A Mailchimp-shaped audience (Marketing API v3) as an outbox destination.

- upsert / unsubscribe: ``PUT /lists/{list_id}/members/{subscriber_hash}`` (MD5 of the lower-cased
  address) with ``status`` and ``status_if_new``, merge fields FNAME / LNAME and the language;
- erase: ``POST /lists/{list_id}/members/{hash}/actions/delete-permanent`` (a 404 means nothing is
  left to erase, which is the goal);
- members (reconciliation): ``GET /lists/{list_id}/members?count=&offset=``.

The API's error ``detail`` can quote the address; only the status and ``title`` are kept.
"""

from __future__ import annotations

import hashlib
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

    def deliver(self, message: Outgoing) -> dict[str, Any]:
        members = f"/lists/{self.list_id}/members"
        if message.kind == "erase":
            handle = message.handle.get("subscriber_hash")
            if not handle:
                return {"erased": False, "reason": "no address was known"}
            response = self._call("POST", f"{members}/{handle}/actions/delete-permanent")
            if response.status_code in (200, 204, 404):
                return {"erased": True, "http": response.status_code}
            raise DeliveryFailed(self._title(response), retryable=False)
        email = message.fields.get("email")
        if not email:
            raise DeliveryFailed("the person has no e-mail address", retryable=False)
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
        response = self._call("PUT", f"{members}/{subscriber_hash(email)}", body)
        if response.status_code != 200:
            raise DeliveryFailed(self._title(response), retryable=False)
        member = response.json()
        return {
            "member_id": member.get("id"),
            "status": member.get("status"),
            "last_changed": member.get("last_changed"),
        }

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
