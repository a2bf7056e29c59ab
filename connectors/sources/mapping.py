"""Reading fields out of an engine's JSON record. Every failure is a ``BadRecord`` whose message
names the field and the rule, never the value (it ends up in sync skips and logs)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from consent_hub.errors import SyncError


class BadRecord(SyncError, ValueError):
    """A record a connector cannot map: it is skipped. The message names the field, never its value.
    Still a ValueError, so that the ``except ValueError`` around parsing that it replaces keeps
    catching it."""


def utc_time(value: Any, field: str) -> dt.datetime:
    """An engine timestamp (ISO 8601; UTC when it carries no zone) as an aware datetime."""
    if not isinstance(value, str):
        raise BadRecord(f"{field}: not a timestamp")
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRecord(f"{field}: not a timestamp") from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def text(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadRecord(f"{name}: not text")
    stripped = str(value).strip()
    return stripped or None


def ref(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value).strip() == "":
        raise BadRecord(f"{name}: missing")
    return str(value).strip()


def whole_number(raw: dict[str, Any], name: str) -> int:
    value = raw.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRecord(f"{name}: not a whole number")
    return value


def cents(raw: dict[str, Any], name: str) -> int:
    value = raw.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRecord(f"{name}: not a number")
    return round(float(value) * 100)
