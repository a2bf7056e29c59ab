"""Validation shared by every domain. Messages name the field and the rule, never the value."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ValidationError

from consent_hub.errors import InvalidInput

_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
M = TypeVar("M", bound=BaseModel)


def clean_text(value: str, limit: int) -> str | None:
    """Trimmed text without control or invisible characters; None when empty."""
    # isprintable() is False for every forbidden category (and for other spaces than U+0020,
    # which the slow path then allows): the per-character check runs only when needed
    if not value.isprintable() and any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in value):
        raise ValueError("contains control or invisible characters")
    value = value.strip()
    if len(value) > limit:
        raise ValueError(f"is longer than {limit} characters")
    return value or None


def _required_text(value: str) -> str:
    cleaned = clean_text(value, len(value))
    if cleaned is None:
        raise ValueError("must not be empty")
    return cleaned


SafeText = Annotated[str, AfterValidator(_required_text)]
"""A required, trimmed text without control characters (names, references)."""


def safe_errors(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic errors without the offending input (which may be personal data)."""
    return [
        {"field": ".".join(str(p) for p in (*prefix, *e["loc"])), "problem": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def parse(model: type[M], data: M | dict[str, Any]) -> M:
    """``data`` as ``model``, or InvalidInput listing every problem (without values)."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(safe_errors(exc)) from None


REFERENCE_PATTERN = r"^[A-Za-z0-9._:/-]{1,80}$"  # a request register reference: no room for an address
REFERENCE = re.compile(REFERENCE_PATTERN)
# nine digits or more in one run (separators . / - allowed between them) read as a phone number
# (0478445566, 0478/44.55.66), a national register number or an account: never a register number
LONG_NUMBER = re.compile(r"\d(?:[./-]?\d){8,}")


def reference_detail(reference: str | None, field: str = "reference") -> dict[str, Any]:
    """The audit detail of a reference (a request register number, a ticket id). The audit log is
    append-only, so whatever goes in stays forever: only register-style references pass (no
    spaces, no ``@``), never free text that could carry a name or an address. Every path that
    writes a caller's reference into the log goes through here."""
    if reference is None:
        return {}
    if not isinstance(reference, str) or not REFERENCE.match(reference) or LONG_NUMBER.search(reference):
        raise InvalidInput(
            [
                {
                    "field": field,
                    "problem": "must be a request register reference (letters, digits, . _ : / -; "
                    "no run of nine digits or more)",
                    "type": "value_error",
                }
            ]
        )
    return {field: reference}
