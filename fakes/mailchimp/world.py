"""The fake Mailchimp's state: audiences, members, tags and batches, and the API operations over them
(``MailchimpState.handle`` answers one request, independent of HTTP)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from starlette.responses import JSONResponse, Response

from fakes import faults as checks
from fakes.faults import FaultPlan

DEFAULT_API_KEY = "0123456789abcdef0123456789abcdef-us21"
ERROR_TYPE = "https://mailchimp.com/developer/marketing/docs/errors/"
PROBLEM_JSON = "application/problem+json"
MEMBER_STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
TAG_STATUSES = ("active", "inactive")
DEFAULT_MERGE_FIELDS: dict[str, Any] = {"FNAME": "", "LNAME": "", "ADDRESS": "", "PHONE": "", "BIRTHDAY": ""}
MAX_COUNT = 1000
INVALID_RESOURCE = "The resource submitted could not be validated. For field-specific details, see the 'errors' array."
NOT_FOUND = "The requested resource could not be found."

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$")
_HEX32_RE = re.compile(r"^[0-9a-fA-F]{32}$")


def subscriber_hash(email: str) -> str:
    """The MD5 hex digest of the lower-cased address, Mailchimp's member id."""
    return hashlib.md5(email.lower().encode("utf-8"), usedforsecurity=False).hexdigest()


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


# --------------------------------------------------------------------------------------------------
# errors and results


@dataclass(slots=True)
class Result:
    """What :meth:`MailchimpState.handle` answers, for the app to send: a status, a JSON body, headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_problem(self) -> bool:
        return self.status >= 400


class Problem(Exception):
    """An API error; becomes a problem-details response."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        errors: Sequence[Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = [dict(e) for e in errors] if errors else None
        self.headers = dict(headers or {})

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": ERROR_TYPE,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": str(uuid.uuid4()),
        }
        if self.errors is not None:
            doc["errors"] = self.errors
        return doc

    def result(self) -> Result:
        return Result(self.status, self.document(), self.headers)

    def response(self) -> Response:
        return JSONResponse(self.document(), status_code=self.status, headers=self.headers, media_type=PROBLEM_JSON)


def _invalid(field_name: str, message: str) -> Problem:
    return Problem(400, "Invalid Resource", INVALID_RESOURCE, [{"field": field_name, "message": message}])


def not_found() -> Problem:
    return Problem(404, "Resource Not Found", NOT_FOUND)


def _forgotten(email: str) -> Problem:
    return Problem(
        400,
        "Forgotten Email Not Subscribed",
        f"{email} was permanently deleted and cannot be re-imported. The contact must re-subscribe to get back on "
        "the list.",
    )


# --------------------------------------------------------------------------------------------------
# faults


@dataclass
class Faults(FaultPlan):
    """Fault injection for ``/3.0`` requests, set as a whole by ``POST /_fake/faults`` (``{}`` resets).

    Order for each API request: the connection limit (429, counted while the request is in flight,
    ``delay_ms`` included), then ``delay_ms``, then ``down`` (503), then auth (401), then a pending
    ``rate_limit`` (429, with ``Retry-After: retry_after`` when that is set), then a pending ``server_errors``
    (500 and 503 alternate), then every ``fail_every``-th request (503), then the answer.
    ``max_concurrent`` overrides :attr:`MailchimpState.max_concurrent` while set."""

    down: bool = False
    retry_after: float | None = None
    max_concurrent: int | None = None
    next_server_error: int = 500

    def describe(self) -> dict[str, Any]:
        return {
            "down": self.down,
            "server_errors": self.server_errors,
            "rate_limit": self.rate_limit,
            "retry_after": self.retry_after,
            "delay_ms": self.delay_ms,
            "fail_every": self.fail_every,
            "max_concurrent": self.max_concurrent,
        }


def parse_faults(body: Mapping[str, Any]) -> Faults:
    """A fresh fault configuration from a control request (keys left out are off). Raises ``ValueError``."""
    checks.refuse_unknown(
        body, {"down", "server_errors", "rate_limit", "retry_after", "delay_ms", "fail_every", "max_concurrent"}
    )
    retry_after = checks.number(body, "retry_after") if body.get("retry_after") is not None else None
    max_concurrent: int | None = None
    if body.get("max_concurrent") is not None:
        max_concurrent = checks.count(body, "max_concurrent")
        if max_concurrent < 1:
            raise ValueError("'max_concurrent' must be at least 1")
    return Faults(
        down=checks.flag(body, "down"),
        server_errors=checks.count(body, "server_errors"),
        rate_limit=checks.count(body, "rate_limit"),
        retry_after=retry_after,
        delay_ms=checks.number(body, "delay_ms"),
        fail_every=checks.count(body, "fail_every"),
        max_concurrent=max_concurrent,
    )


# --------------------------------------------------------------------------------------------------
# records


@dataclass(slots=True)
class _Audience:
    id: str
    name: str
    web_id: int
    date_created: str


@dataclass(slots=True)
class _Member:
    list_id: str
    hash: str
    email_address: str
    status: str
    merge_fields: dict[str, Any]
    language: str
    web_id: int
    timestamp_signup: str
    timestamp_opt: str
    last_changed: str
    tags: dict[str, str] = field(default_factory=dict)  # name -> date added

    def to_json(self, tag_ids: Mapping[str, int]) -> dict[str, Any]:
        first, last = self.merge_fields.get("FNAME", ""), self.merge_fields.get("LNAME", "")
        full_name = f"{first} {last}".strip() if isinstance(first, str) and isinstance(last, str) else ""
        ident = f"{self.list_id}:{self.hash}".encode()
        return {
            "id": self.hash,
            "email_address": self.email_address,
            "unique_email_id": hashlib.sha1(ident, usedforsecurity=False).hexdigest()[:10],
            "contact_id": hashlib.sha1(b"contact:" + self.hash.encode(), usedforsecurity=False).hexdigest()[:32],
            "full_name": full_name,
            "web_id": self.web_id,
            "email_type": "html",
            "status": self.status,
            "consents_to_one_to_one_messaging": True,
            "merge_fields": dict(self.merge_fields),
            "interests": {},
            "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
            "ip_signup": "",
            "timestamp_signup": self.timestamp_signup,
            "ip_opt": "",
            "timestamp_opt": self.timestamp_opt,
            "member_rating": 2,
            "last_changed": self.last_changed,
            "language": self.language,
            "vip": False,
            "email_client": "",
            "location": {"latitude": 0, "longitude": 0, "gmtoff": 0, "dstoff": 0, "country_code": "", "timezone": ""},
            "marketing_permissions": [],
            "source": "API - Generic",
            "tag_count": len(self.tags),
            "tags": [{"id": tag_ids[name], "name": name} for name in self.tags],
            "list_id": self.list_id,
            "_links": [],
        }


@dataclass(slots=True)
class _Batch:
    id: str
    operations: list[dict[str, Any]]
    submitted_at: str
    due: float
    status: str = "pending"
    finished: int = 0
    errored: int = 0
    completed_at: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self, base_url: str) -> dict[str, Any]:
        url = f"{base_url}/_fake/batches/{self.id}/response.json" if self.status == "finished" else ""
        return {
            "id": self.id,
            "status": self.status,
            "total_operations": len(self.operations),
            "finished_operations": self.finished,
            "errored_operations": self.errored,
            "submitted_at": self.submitted_at,
            "completed_at": self.completed_at,
            "response_body_url": url,
            "_links": [],
        }


@dataclass(slots=True)
class _Call:
    name: str
    method: str
    params: dict[str, str]
    query: Mapping[str, str]
    body: bytes
    request_id: str
    base_url: str
    batch_id: str | None

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        try:
            value = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise Problem(400, "JSON Parse Error", "We encountered an unspecified JSON parsing error.") from None
        if not isinstance(value, dict):
            raise Problem(400, "JSON Parse Error", "The request body must be a JSON object.")
        return value


# route name -> pattern; member paths carry ``list_id`` and ``hash``
_ROUTES: list[tuple[str, re.Pattern[str]]] = [
    ("root", re.compile(r"^$")),
    ("ping", re.compile(r"^ping$")),
    ("lists", re.compile(r"^lists$")),
    ("list", re.compile(r"^lists/(?P<list_id>[^/]+)$")),
    ("members", re.compile(r"^lists/(?P<list_id>[^/]+)/members$")),
    ("member", re.compile(r"^lists/(?P<list_id>[^/]+)/members/(?P<hash>[^/]+)$")),
    ("forget", re.compile(r"^lists/(?P<list_id>[^/]+)/members/(?P<hash>[^/]+)/actions/delete-permanent$")),
    ("tags", re.compile(r"^lists/(?P<list_id>[^/]+)/members/(?P<hash>[^/]+)/tags$")),
    ("batches", re.compile(r"^batches$")),
    ("batch", re.compile(r"^batches/(?P<batch_id>[^/]+)$")),
]
_MUTATING = {
    ("members", "POST"),
    ("member", "PUT"),
    ("member", "PATCH"),
    ("member", "DELETE"),
    ("forget", "POST"),
    ("tags", "POST"),
}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")  # the methods the /3.0 routes take


def _route(path: str) -> tuple[str, re.Match[str]] | None:
    for name, pattern in _ROUTES:
        match = pattern.match(path)
        if match is not None:
            return name, match
    return None


def _normalise_hash(raw: str) -> str:
    """A path's member id: an MD5 hex digest (any case) or, as the real API allows, the address itself."""
    return subscriber_hash(raw) if "@" in raw else raw.lower()


# --------------------------------------------------------------------------------------------------
# the world


class MailchimpState:
    """Everything the fake knows: audiences, members, forgotten addresses, batches, the event log, faults and
    counters. It outlives any one app or server; all access goes through :attr:`lock`.

    ``lists`` is a sequence of audience ids (the name repeats the id) or a mapping id -> name.
    ``max_concurrent`` is the connection limit (Mailchimp's is 10)."""

    def __init__(self, lists: Sequence[str] | Mapping[str, str] = ("list-a",), *, max_concurrent: int = 10) -> None:
        if isinstance(lists, str):
            raise TypeError("lists must be a sequence of ids or a mapping id -> name, not a string")
        names = dict(lists) if isinstance(lists, Mapping) else {list_id: list_id for list_id in lists}
        if not names:
            raise ValueError("a Mailchimp account needs at least one audience")
        created = _now()
        self.lock = threading.RLock()
        self.max_concurrent = max_concurrent
        self.faults = Faults()
        self.audiences: dict[str, _Audience] = {
            list_id: _Audience(list_id, name, 100_000 + i, created) for i, (list_id, name) in enumerate(names.items())
        }
        self._members: dict[str, dict[str, _Member]] = {list_id: {} for list_id in names}
        self._forgotten: dict[str, set[str]] = {list_id: set() for list_id in names}
        self._tag_ids: dict[str, dict[str, int]] = {list_id: {} for list_id in names}
        self._batches: dict[str, _Batch] = {}
        self._log: list[dict[str, Any]] = []
        self._next_web_id = 1_000_001
        self._next_tag_id = 1
        self.counters: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._handlers: dict[tuple[str, str], Callable[[_Call], Result]] = {
            ("root", "GET"): self._root,
            ("ping", "GET"): self._ping,
            ("lists", "GET"): self._lists,
            ("list", "GET"): self._list,
            ("members", "GET"): self._list_members,
            ("members", "POST"): self._add_member,
            ("member", "GET"): self._get_member,
            ("member", "PUT"): self._put_member,
            ("member", "PATCH"): self._patch_member,
            ("member", "DELETE"): self._archive_member,
            ("forget", "POST"): self._forget_member,
            ("tags", "GET"): self._get_tags,
            ("tags", "POST"): self._post_tags,
            ("batches", "GET"): self._list_batches,
            ("batches", "POST"): self._start_batch,
            ("batch", "GET"): self._get_batch,
            ("batch", "DELETE"): self._delete_batch,
        }
        self.batch_delay = 0.0

    # -- reading, for tests ----------------------------------------------------------------------

    def member(self, list_id: str, email_or_hash: str) -> dict[str, Any] | None:
        """The member's API record, or ``None`` (absent or permanently deleted)."""
        with self.lock:
            found = self._members.get(list_id, {}).get(_normalise_hash(email_or_hash))
            return None if found is None else found.to_json(self._tag_ids[list_id])

    def members(self, list_id: str | None = None) -> list[dict[str, Any]]:
        """Full member records of one audience (or all), archived included, in the order first added."""
        with self.lock:
            ids = [list_id] if list_id is not None else list(self._members)
            return [m.to_json(self._tag_ids[i]) for i in ids for m in self._members.get(i, {}).values()]

    def log(
        self, *, list_id: str | None = None, subscriber_hash: str | None = None, since: int = 0
    ) -> list[dict[str, Any]]:
        """Event log entries with ``seq > since``, optionally for one audience and/or one member."""
        with self.lock:
            wanted = _normalise_hash(subscriber_hash) if subscriber_hash else None
            return [
                dict(e)
                for e in self._log
                if e["seq"] > since
                and (list_id is None or e["list_id"] == list_id)
                and (wanted is None or e["subscriber_hash"] == wanted)
            ]

    def is_forgotten(self, list_id: str, email_or_hash: str) -> bool:
        with self.lock:
            return _normalise_hash(email_or_hash) in self._forgotten.get(list_id, set())

    def stats(self) -> dict[str, Any]:
        with self.lock:
            batch_states = Counter(b.status for b in self._batches.values())
            return {
                "requests": self.counters["requests"],
                "unauthorized": self.counters["unauthorized"],
                "rate_limited": self.counters["rate_limited"],
                "over_connection_limit": self.counters["over_connection_limit"],
                "server_errors": self.counters["server_errors"],
                "down": self.counters["down"],
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "max_concurrent": self.faults.max_concurrent or self.max_concurrent,
                "log_entries": len(self._log),
                "members": {
                    list_id: dict(Counter(m.status for m in members.values()))
                    for list_id, members in self._members.items()
                },
                "forgotten": {list_id: len(hashes) for list_id, hashes in self._forgotten.items()},
                "batches": {s: batch_states.get(s, 0) for s in ("pending", "started", "finished")},
                "faults": self.faults.describe(),
            }

    # -- dispatch ----------------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        body: bytes,
        *,
        request_id: str,
        base_url: str = "",
        batch_id: str | None = None,
    ) -> Result:
        """Answer one API call; ``path`` is relative to ``/3.0`` (already URL-decoded)."""
        path = path.strip("/")
        method = method.upper()
        routed = _route(path)
        if routed is None:
            return not_found().result()
        name, match = routed
        handler = self._handlers.get((name, method))
        if handler is None:
            allowed = ", ".join(m for m in METHODS if (name, m) in self._handlers)
            return Problem(
                405,
                "Method Not Allowed",
                "The requested method and resource are not compatible. See the Allow header for this resource's "
                "available methods.",
                headers={"Allow": allowed},
            ).result()
        params = dict(match.groupdict())
        if "hash" in params:
            params["hash"] = _normalise_hash(params["hash"])
        call = _Call(name, method, params, query, body, request_id, base_url, batch_id)
        with self.lock:
            mutating = (name, method) in _MUTATING
            list_id = params.get("list_id")
            member_hash = params.get("hash") or (self._body_hash(call) if mutating else None)
            before = self._status_of(list_id, member_hash) if mutating else None
            try:
                result = handler(call)
            except Problem as problem:
                result = problem.result()
            if mutating:
                moved_to = None
                if result.status < 300 and isinstance(result.body, dict) and result.body.get("id") != member_hash:
                    moved_to = result.body.get("id")
                self._log.append(
                    {
                        "seq": len(self._log) + 1,
                        "method": method,
                        "path": f"/3.0/{path}",
                        "list_id": list_id,
                        "subscriber_hash": member_hash,
                        "status_before": before,
                        "status_after": self._status_of(list_id, moved_to or member_hash),
                        "request_id": request_id,
                        "status_code": result.status,
                        "batch_id": batch_id,
                        **({"moved_to": moved_to} if moved_to else {}),
                    }
                )
            return result

    def _body_hash(self, call: _Call) -> str | None:
        try:
            email = call.json().get("email_address")
        except Problem:
            return None
        return subscriber_hash(email) if isinstance(email, str) else None

    def _status_of(self, list_id: str | None, member_hash: str | None) -> str | None:
        if list_id is None or member_hash is None:
            return None
        found = self._members.get(list_id, {}).get(member_hash)
        return None if found is None else found.status

    # -- helpers -----------------------------------------------------------------------------------

    def _audience(self, call: _Call) -> _Audience:
        audience = self.audiences.get(call.params["list_id"])
        if audience is None:
            raise not_found()
        return audience

    def _existing(self, call: _Call) -> _Member:
        audience = self._audience(call)
        found = self._members[audience.id].get(call.params["hash"])
        if found is None:
            raise not_found()
        return found

    def _render(self, member: _Member) -> dict[str, Any]:
        return member.to_json(self._tag_ids[member.list_id])

    def _tag_id(self, list_id: str, name: str) -> int:
        ids = self._tag_ids[list_id]
        if name not in ids:
            ids[name] = self._next_tag_id
            self._next_tag_id += 1
        return ids[name]

    @staticmethod
    def _paging(query: Mapping[str, str]) -> tuple[int, int]:
        def integer(key: str, default: int) -> int:
            raw = query.get(key)
            if raw is None or raw == "":
                return default
            try:
                value = int(raw)
            except ValueError:
                raise _invalid(key, f"{key} must be an integer.") from None
            if value < 0:
                raise _invalid(key, f"{key} must not be negative.")
            return value

        return min(integer("count", 10), MAX_COUNT), integer("offset", 0)

    @staticmethod
    def _optional_email(body: Mapping[str, Any]) -> str | None:
        return None if body.get("email_address") is None else MailchimpState._email(body)

    @staticmethod
    def _email(body: Mapping[str, Any]) -> str:
        email = body.get("email_address")
        if not isinstance(email, str) or not email:
            raise _invalid("email_address", "This value should not be blank.")
        if not _EMAIL_RE.match(email):
            raise Problem(400, "Invalid Resource", f"{email} looks fake or invalid, please enter a real email address.")
        return email

    @staticmethod
    def _status_value(body: Mapping[str, Any], key: str) -> str | None:
        value = body.get(key)
        if value is None or value == "":
            return None
        if value not in MEMBER_STATUSES:
            raise _invalid(key, f"Data presented is not one of the accepted values: {', '.join(MEMBER_STATUSES)}.")
        return str(value)

    @staticmethod
    def _merge_fields(body: Mapping[str, Any]) -> dict[str, Any] | None:
        value = body.get("merge_fields")
        if value is None:
            return None
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise _invalid("merge_fields", "Schema describes object, but the value is not an object.")
        return value

    @staticmethod
    def _language(body: Mapping[str, Any]) -> str | None:
        value = body.get("language")
        if value is None:
            return None
        if not isinstance(value, str):
            raise _invalid("language", "Schema describes string, but the value is not a string.")
        return value

    @staticmethod
    def _tag_names(body: Mapping[str, Any]) -> list[str]:
        value = body.get("tags")
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(t, str) and t.strip() for t in value):
            raise _invalid("tags", "Schema describes array of strings.")
        return [t.strip() for t in value]

    def _set_status(self, member: _Member, status: str, now: str) -> bool:
        if member.status == status:
            return False
        member.status = status
        if status == "subscribed":
            member.timestamp_opt = now
        return True

    def _create(self, list_id: str, member_hash: str, email: str, status: str, body: Mapping[str, Any]) -> _Member:
        now = _now()
        existing = self._members[list_id].get(member_hash)  # an archived member comes back in its old place
        member = _Member(
            list_id=list_id,
            hash=member_hash,
            email_address=email,
            status=status,
            merge_fields=dict(existing.merge_fields) if existing else dict(DEFAULT_MERGE_FIELDS),
            language=existing.language if existing else "",
            web_id=existing.web_id if existing else self._next_web_id,
            timestamp_signup=existing.timestamp_signup if existing else "",
            timestamp_opt=now if status == "subscribed" else (existing.timestamp_opt if existing else ""),
            last_changed=now,
            tags=dict(existing.tags) if existing else {},
        )
        if existing is None:
            self._next_web_id += 1
        member.merge_fields.update(self._merge_fields(body) or {})
        member.language = self._language(body) or member.language
        for name in self._tag_names(body):
            self._tag_id(list_id, name)
            member.tags.setdefault(name, now)
        self._members[list_id][member_hash] = member
        return member

    def _update(self, member: _Member, body: Mapping[str, Any], status: str | None) -> None:
        now = _now()
        changed = False
        if status is not None:
            changed = self._set_status(member, status, now)
        merge = self._merge_fields(body)
        if merge:
            updated = {**member.merge_fields, **merge}
            if updated != member.merge_fields:
                member.merge_fields = updated
                changed = True
        language = self._language(body)
        if language is not None and language != member.language:
            member.language = language
            changed = True
        if changed:
            member.last_changed = now

    # -- endpoints ---------------------------------------------------------------------------------

    def _root(self, call: _Call) -> Result:
        return Result(
            200,
            {
                "account_id": "fake0account0id0000000001",
                "account_name": "Consent hub fake account",
                "email": "marketing@example.org",
                "role": "owner",
                "total_subscribers": sum(
                    1 for members in self._members.values() for m in members.values() if m.status == "subscribed"
                ),
                "_links": [],
            },
        )

    def _ping(self, call: _Call) -> Result:
        return Result(200, {"health_status": "Everything's Chimpy!"})

    def _audience_json(self, audience: _Audience) -> dict[str, Any]:
        members = self._members[audience.id].values()
        statuses = Counter(m.status for m in members)
        return {
            "id": audience.id,
            "web_id": audience.web_id,
            "name": audience.name,
            "date_created": audience.date_created,
            "double_optin": False,
            "list_rating": 0,
            "email_type_option": False,
            "visibility": "prv",
            "stats": {
                "member_count": statuses["subscribed"],
                "total_contacts": len(self._members[audience.id]) - statuses["archived"],
                "unsubscribe_count": statuses["unsubscribed"],
                "cleaned_count": statuses["cleaned"],
                "merge_field_count": len(DEFAULT_MERGE_FIELDS),
            },
            "_links": [],
        }

    def _lists(self, call: _Call) -> Result:
        count, offset = self._paging(call.query)
        audiences = list(self.audiences.values())
        return Result(
            200,
            {
                "lists": [self._audience_json(a) for a in audiences[offset : offset + count]],
                "total_items": len(audiences),
                "constraints": {
                    "may_create": False,
                    "max_instances": len(audiences),
                    "current_total_instances": len(audiences),
                },
                "_links": [],
            },
        )

    def _list(self, call: _Call) -> Result:
        return Result(200, self._audience_json(self._audience(call)))

    def _list_members(self, call: _Call) -> Result:
        audience = self._audience(call)
        count, offset = self._paging(call.query)
        wanted = call.query.get("status") or None
        if wanted is not None and wanted not in (*MEMBER_STATUSES, "archived"):
            raise _invalid("status", "Data presented is not one of the accepted values.")
        selected = [m for m in self._members[audience.id].values() if wanted is None or m.status == wanted]
        return Result(
            200,
            {
                "members": [self._render(m) for m in selected[offset : offset + count]],
                "list_id": audience.id,
                "total_items": len(selected),
                "_links": [],
            },
        )

    def _add_member(self, call: _Call) -> Result:
        audience = self._audience(call)
        body = call.json()
        email = self._email(body)
        status = self._status_value(body, "status")
        if status is None:
            raise _invalid("status", "This value should not be blank.")
        member_hash = subscriber_hash(email)
        if member_hash in self._forgotten[audience.id]:
            raise _forgotten(email)
        existing = self._members[audience.id].get(member_hash)
        if existing is not None and existing.status != "archived":
            raise Problem(
                400,
                "Member Exists",
                f"{email} is already a list member. Use PUT to insert or update list members.",
            )
        return Result(200, self._render(self._create(audience.id, member_hash, email, status, body)))

    def _get_member(self, call: _Call) -> Result:
        return Result(200, self._render(self._existing(call)))

    def _put_member(self, call: _Call) -> Result:
        audience = self._audience(call)
        body = call.json()
        email = self._email(body)
        member_hash = call.params["hash"]
        if subscriber_hash(email) != member_hash:
            raise _invalid("email_address", "The email address does not match the subscriber hash in the URL.")
        if member_hash in self._forgotten[audience.id]:
            raise _forgotten(email)
        status_if_new = self._status_value(body, "status_if_new")
        status = self._status_value(body, "status")
        existing = self._members[audience.id].get(member_hash)
        if existing is None or existing.status == "archived":
            initial = status_if_new or status
            if initial is None:
                raise _invalid("status_if_new", "This value should not be blank.")
            member = self._create(audience.id, member_hash, email, initial, body)
        else:
            member = existing
            if email != member.email_address:
                member.email_address = email
                member.last_changed = _now()
            self._update(member, body, status)
        return Result(200, self._render(member))

    def _patch_member(self, call: _Call) -> Result:
        member = self._existing(call)
        body = call.json()
        status = self._status_value(body, "status")
        email = self._optional_email(body)
        members = self._members[member.list_id]
        if email is not None and email != member.email_address:
            new_hash = subscriber_hash(email)
            if new_hash != member.hash:
                if new_hash in members or new_hash in self._forgotten[member.list_id]:
                    raise _invalid("email_address", f"{email} is already a list member or cannot be re-imported.")
                del members[member.hash]
                member.hash = new_hash
                members[new_hash] = member
            member.email_address = email
            member.last_changed = _now()
        self._update(member, body, status)
        return Result(200, self._render(member))

    def _archive_member(self, call: _Call) -> Result:
        member = self._existing(call)
        if member.status != "archived":
            member.status = "archived"
            member.last_changed = _now()
        return Result(204)

    def _forget_member(self, call: _Call) -> Result:
        member = self._existing(call)
        del self._members[member.list_id][member.hash]
        self._forgotten[member.list_id].add(member.hash)
        return Result(204)

    def _get_tags(self, call: _Call) -> Result:
        member = self._existing(call)
        ids = self._tag_ids[member.list_id]
        tags = [{"id": ids[name], "name": name, "date_added": added} for name, added in member.tags.items()]
        return Result(200, {"tags": tags, "total_items": len(tags), "_links": []})

    def _post_tags(self, call: _Call) -> Result:
        member = self._existing(call)
        tags = call.json().get("tags")
        if not isinstance(tags, list) or not all(
            isinstance(t, dict) and isinstance(t.get("name"), str) and t.get("status") in TAG_STATUSES for t in tags
        ):
            raise _invalid("tags", "Expected an array of {name, status: active|inactive}.")
        now = _now()
        changed = False
        for tag in tags:
            name = tag["name"].strip()
            if tag["status"] == "active" and name not in member.tags:
                self._tag_id(member.list_id, name)
                member.tags[name] = now
                changed = True
            elif tag["status"] == "inactive" and name in member.tags:
                del member.tags[name]
                changed = True
        if changed:
            member.last_changed = now
        return Result(204)

    # -- batches -----------------------------------------------------------------------------------

    def _list_batches(self, call: _Call) -> Result:
        count, offset = self._paging(call.query)
        batches = list(self._batches.values())
        return Result(
            200,
            {
                "batches": [b.to_json(call.base_url) for b in batches[offset : offset + count]],
                "total_items": len(batches),
                "_links": [],
            },
        )

    def _start_batch(self, call: _Call) -> Result:
        if call.batch_id is not None:
            raise Problem(400, "Invalid Action", "A batch operation cannot start another batch.")
        operations = call.json().get("operations")
        if not isinstance(operations, list):
            raise _invalid("operations", "Schema describes array, but the value is not an array.")
        checked: list[dict[str, Any]] = []
        for i, op in enumerate(operations):
            if not isinstance(op, dict):
                raise _invalid(f"operations.item:{i}", "Schema describes object.")
            method = op.get("method")
            if not isinstance(method, str) or method.upper() not in METHODS:
                raise _invalid(f"operations.item:{i}.method", f"Data presented is not one of {', '.join(METHODS)}.")
            if not isinstance(op.get("path"), str):
                raise _invalid(f"operations.item:{i}.path", "This value should not be blank.")
            for key, kind in (("body", str), ("operation_id", str), ("params", dict)):
                if op.get(key) is not None and not isinstance(op[key], kind):
                    raise _invalid(f"operations.item:{i}.{key}", f"Schema describes {kind.__name__}.")
            checked.append(
                {
                    "method": method.upper(),
                    "path": op["path"],
                    "params": {str(k): str(v) for k, v in (op.get("params") or {}).items()},
                    "body": op.get("body") or "",
                    "operation_id": op.get("operation_id"),
                }
            )
        batch_id = uuid.uuid4().hex[:10]
        batch = _Batch(batch_id, checked, _now(), time.monotonic() + self.batch_delay)
        self._batches[batch_id] = batch
        return Result(200, batch.to_json(call.base_url))

    def _get_batch(self, call: _Call) -> Result:
        batch = self._batches.get(call.params["batch_id"])
        if batch is None:
            raise not_found()
        return Result(200, batch.to_json(call.base_url))

    def _delete_batch(self, call: _Call) -> Result:
        if self._batches.pop(call.params["batch_id"], None) is None:
            raise not_found()
        return Result(204)

    def batch_results(self, batch_id: str) -> list[dict[str, Any]] | None:
        """The per-operation results of a finished batch (``None`` when unknown or not finished)."""
        with self.lock:
            batch = self._batches.get(batch_id)
            if batch is None or batch.status != "finished":
                return None
            return [dict(r) for r in batch.results]

    def process_batches(self, *, max_ops: int | None = None, now: float | None = None) -> int:
        """Run operations of batches whose start time has come, at most ``max_ops``; returns how many ran."""
        with self.lock:
            moment = time.monotonic() if now is None else now
            done = 0
            for batch in list(self._batches.values()):
                if batch.status == "finished" or batch.due > moment:
                    continue
                batch.status = "started"
                while batch.finished < len(batch.operations):
                    if max_ops is not None and done >= max_ops:
                        return done
                    op = batch.operations[batch.finished]
                    result = self.handle(
                        op["method"],
                        unquote(op["path"]),
                        op["params"],
                        op["body"].encode("utf-8"),
                        request_id=op["operation_id"] or str(uuid.uuid4()),
                        batch_id=batch.id,
                    )
                    batch.results.append(
                        {
                            "operation_id": op["operation_id"],
                            "status_code": result.status,
                            "response": "" if result.body is None else json.dumps(result.body),
                        }
                    )
                    batch.finished += 1
                    batch.errored += result.status >= 400
                    done += 1
                batch.status = "finished"
                batch.completed_at = _now()
            return done
