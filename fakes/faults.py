"""Fault injection shared by the fakes: a pending count of 429s (with ``Retry-After``), a pending count of
server errors (two kinds alternating), every ``fail_every``-th request failing, a delay before each answer,
and the checks of a ``POST /_fake/faults`` body. Each fake extends :class:`FaultPlan` with its own knobs
(records served broken, a connection limit, "down") and words its refusals as its real API does; two class
options keep the fakes' own habits: whether ``fail_every`` counts every request or only the ones no pending fault
answered, and whether the pending server errors alternate 503 and 500 or are all 503."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass
class FaultPlan:
    """The common knobs; a plan is set as a whole (``{}`` resets) and used up as requests arrive.

    Each request asks :meth:`take_rate_limit` first, then (if not rate limited) :meth:`take_server_error`."""

    # True: ``fail_every`` counts every request, 429s and pending 5xx included (Ticketmatic);
    # False: only the requests that reach the ``fail_every`` check
    fail_every_counts_all: ClassVar[bool] = False
    # False: every pending server error is a 503 (UiTdatabank)
    server_errors_alternate: ClassVar[bool] = True

    rate_limit: int = 0
    retry_after: float | None = 1
    server_errors: int = 0
    delay_ms: float = 0
    fail_every: int = 0
    next_server_error: int = 503  # the alternation's next status (503 <-> 500)
    fail_counter: int = 0

    async def pause(self) -> None:
        if self.delay_ms > 0:
            await asyncio.sleep(self.delay_ms / 1000)

    def take_rate_limit(self) -> bool:
        """Whether this request answers 429 (one pending 429 used up)."""
        if self.fail_every_counts_all:
            self.fail_counter += 1
        if self.rate_limit <= 0:
            return False
        self.rate_limit -= 1
        return True

    def retry_after_headers(self) -> dict[str, str]:
        """``Retry-After`` as the real APIs write it: whole seconds without a fraction."""
        retry = self.retry_after
        if retry is None:
            return {}
        return {"Retry-After": str(int(retry)) if float(retry).is_integer() else str(retry)}

    def take_server_error(self) -> int:
        """The 5xx status this request answers, or 0: a pending server error (503 and 500 alternate unless
        :attr:`server_errors_alternate` is off), else every ``fail_every``-th request answers 503."""
        if self.server_errors > 0:
            self.server_errors -= 1
            status = self.next_server_error
            if self.server_errors_alternate:
                self.next_server_error = 500 if status == 503 else 503
            return status
        if self.fail_every > 0:
            if not self.fail_every_counts_all:
                self.fail_counter += 1
            if self.fail_counter % self.fail_every == 0:
                return 503
        return 0


# checks of a control body; ``error`` is the exception the fake turns into its 400


async def json_object(request: Any, error: type[Exception] = ValueError) -> dict[str, Any]:
    """The request's body as a JSON object (an empty body is an empty object)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise error("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise error("The request body must be a JSON object.")
    return body


def refuse_unknown(body: Mapping[str, Any], known: set[str], error: type[Exception] = ValueError) -> None:
    unknown = set(body) - known
    if unknown:
        raise error(f"Unknown fault keys: {sorted(unknown)}")


def count(body: Mapping[str, Any], key: str, error: type[Exception] = ValueError) -> int:
    value = body.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise error(f"'{key}' must be a non-negative integer")
    return value


def number(body: Mapping[str, Any], key: str, default: float = 0, error: type[Exception] = ValueError) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise error(f"'{key}' must be a non-negative number")
    return float(value)


def flag(body: Mapping[str, Any], key: str, error: type[Exception] = ValueError) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise error(f"'{key}' must be true or false")
    return value


def ids(body: Mapping[str, Any], key: str, error: type[Exception] = ValueError) -> set[int]:
    value = body.get(key, [])
    if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise error(f"'{key}' must be a list of integer ids")
    return set(value)
