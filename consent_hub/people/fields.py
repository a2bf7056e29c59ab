"""Validation and normalisation of a person's personal fields.

Every message names the field and the rule, never the value, so that errors and logs carry no
personal data (pydantic's own error text is stripped of its ``input`` by the callers).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from typing import Any

import phonenumbers
from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from consent_hub.errors import InvalidInput
from consent_hub.validation import clean_text, safe_errors

PERSON_FIELDS: tuple[str, ...] = (
    "given_name",
    "family_name",
    "email",
    "phone",
    "street_address",
    "postal_code",
    "city",
    "country",
    "birth_date",
    "language",
)

TEXT_FIELDS = tuple(f for f in PERSON_FIELDS if f != "birth_date")

MAX_LENGTH = {
    "given_name": 100,
    "family_name": 100,
    "email": 254,
    "phone": 32,
    "street_address": 200,
    "postal_code": 16,
    "city": 100,
    "country": 2,
    "birth_date": 10,
    "language": 16,
}

_COUNTRIES = frozenset(
    str(code) for code in Locale("en").territories if isinstance(code, str) and code.isalpha() and len(code) == 2
)


def email_index_form(normalised: str) -> str:
    """The form a blind index is computed over: case-folded and NFKC of a validated address."""
    return unicodedata.normalize("NFKC", normalised.casefold())


def normalise_email(value: str) -> tuple[str, str]:
    """Return (address as stored, index form). The index form is trimmed, NFKC and case-folded."""
    value = unicodedata.normalize("NFKC", value.strip())
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise ValueError("is not a valid e-mail address") from None
    return result.normalized, email_index_form(result.normalized)


@functools.lru_cache(maxsize=512)
def _language_tag(value: str) -> str:
    try:
        locale = Locale.parse(value.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        raise ValueError("must be a language tag such as 'nl' or 'fr-BE'") from None
    return locale.language if not locale.territory else f"{locale.language}-{locale.territory}"


def normalise_phone(value: str, region: str) -> str:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise ValueError("is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


class PersonFields(BaseModel):
    """The personal fields of a person; every one optional, all validated."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    phone: str | None = None
    street_address: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None
    birth_date: dt.date | None = None
    language: str | None = None

    @field_validator(*TEXT_FIELDS, mode="before")
    @classmethod
    def _text(cls, value: Any, info: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("must be text")
        return clean_text(value, MAX_LENGTH[info.field_name])

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else normalise_email(value)[0]

    @field_validator("postal_code")
    @classmethod
    def _postal(cls, value: str | None) -> str | None:
        if value is not None and not all(ch.isalnum() or ch in " -" for ch in value):
            raise ValueError("may hold only letters, digits, spaces and '-'")
        return value.upper() if value else value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.upper() not in _COUNTRIES:
            raise ValueError("must be an ISO 3166-1 alpha-2 country code")
        return value.upper()

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return None if value is None else _language_tag(value)

    @field_validator("birth_date")
    @classmethod
    def _birth_date(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and not (dt.date(1900, 1, 1) <= value <= dt.date.today()):
            raise ValueError("must lie between 1900-01-01 and today")
        return value

    def present(self) -> dict[str, str]:
        """The fields that hold a value, as the strings that get encrypted."""
        out: dict[str, str] = {}
        for name in PERSON_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value.isoformat() if isinstance(value, dt.date) else value
        return out


_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def validate_fields(
    data: dict[str, Any] | PersonFields, *, phone_region: str = "BE", row: int | None = None
) -> PersonFields:
    if isinstance(data, PersonFields):
        fields = data
    else:
        try:
            fields = PersonFields.model_validate(data)
        except ValidationError as exc:
            raise InvalidInput(safe_errors(exc, () if row is None else (row,))) from None
    # a PersonFields from an earlier validate_fields carries E.164 already; parse it only once
    already = isinstance(data, PersonFields) and fields.phone is not None and _E164.match(fields.phone)
    if fields.phone is not None and not already:
        try:
            fields.phone = normalise_phone(fields.phone, phone_region)
        except ValueError as exc:
            loc = "phone" if row is None else f"{row}.phone"
            raise InvalidInput([{"field": loc, "problem": f"Value error, {exc}", "type": "value_error"}]) from None
    return fields
