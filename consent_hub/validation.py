"""Validation shared by every domain. Messages name the field and the rule, never the value."""

from __future__ import annotations

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
