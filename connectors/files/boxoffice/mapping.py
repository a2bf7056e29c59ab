"""The declared column mapping (TOML) of a box-office export, and its validation."""

from __future__ import annotations

import codecs
import datetime as dt
import tomllib
import zoneinfo
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connectors.files.boxoffice.errors import MappingError
from consent_hub.consent.catalogue import load_catalogue
from consent_hub.errors import NotFound
from consent_hub.people.fields import PERSON_FIELDS
from consent_hub.validation import safe_errors

DEFAULT_YES = ("ja", "j", "x", "1", "yes", "y", "oui", "true", "waar")
DEFAULT_NO = ("nee", "n", "0", "no", "non", "false", "onwaar")
IDENTIFYING = ("given_name", "family_name", "email", "phone")  # a row names a person by one of these


def header_key(value: object) -> str:
    """How headers are compared: whitespace collapsed, case folded."""
    return " ".join(str(value).split()).casefold()


def answer_key(value: str) -> str:
    return " ".join(value.split()).casefold()


class OptInColumn(BaseModel):
    """A column holding the buyer's answer to an opt-in asked at the counter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str = Field(min_length=1, max_length=200)
    purpose: str
    key: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,23}$")
    yes: tuple[str, ...] = DEFAULT_YES
    no: tuple[str, ...] = DEFAULT_NO
    decided_at: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("purpose")
    @classmethod
    def _house_scoped(cls, value: str) -> str:
        catalogue = load_catalogue()
        try:
            purpose = catalogue.get(value)
        except NotFound:
            raise ValueError(f"unknown purpose {value!r} (known: {', '.join(catalogue.purpose_keys())})") from None
        if purpose.target_kind != "house":
            raise ValueError(
                f"purpose {value!r} is not house-scoped: an opt-in given at a counter grants the importing house only"
            )
        return value

    @field_validator("yes", "no")
    @classmethod
    def _answers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        answers = tuple(dict.fromkeys(answer_key(a) for a in value))
        if not answers or not all(answers):
            raise ValueError("must list at least one answer, none of them empty")
        return answers

    @model_validator(mode="after")
    def _distinct(self) -> OptInColumn:
        both = sorted(set(self.yes) & set(self.no))
        if both:
            raise ValueError(f"answers {both} are listed both as yes and as no")
        return self

    @property
    def permission(self) -> str:
        """The opt-in's name in evidence and idempotency keys: ``key`` when given, else the column."""
        return self.key or self.column


def _check_format(value: str | None) -> str | None:
    if value is None:
        return None
    sample = dt.datetime(1987, 6, 5, 4, 3, 2)
    try:
        readable = "%" in value and dt.datetime.strptime(sample.strftime(value), value).date() == sample.date()
    except ValueError:
        readable = False
    if not readable:
        raise ValueError("must be a strptime format with day, month and year, such as '%d/%m/%Y'")
    return value


class BoxOfficeMapping(BaseModel):
    """Which column holds what, and how the file is written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,23}$")  # the file id of record ids: keep it stable
    sheet: str | None = Field(default=None, min_length=1)  # .xlsx: the first sheet when absent
    record_id: str | None = Field(default=None, min_length=1)  # else the row number is the record id
    date_format: str | None = None  # birth dates written as text; ISO 8601 when absent
    datetime_format: str | None = None  # opt-in times written as text; ISO 8601 (or date_format) when absent
    timezone: str = "Europe/Brussels"  # of times without a zone
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8-sig"
    columns: dict[str, str]  # person field -> column header
    country_names: dict[str, str] = Field(default_factory=dict)  # e.g. "België" = "BE"
    optins: tuple[OptInColumn, ...] = ()

    @field_validator("date_format", "datetime_format")
    @classmethod
    def _format(cls, value: str | None) -> str | None:
        return _check_format(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as 'Europe/Brussels'") from None
        return value

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str) -> str:
        if value in ('"', "\r", "\n") or value.isalnum():
            raise ValueError("must be a separator such as ';', ',' or a tab")
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError("unknown encoding (use e.g. 'utf-8-sig' or 'cp1252')") from None
        return value

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(PERSON_FIELDS))
        if unknown:
            raise ValueError(f"{unknown} are not person fields (person fields: {', '.join(PERSON_FIELDS)})")
        if not any(name in value for name in IDENTIFYING):
            raise ValueError(f"must map at least one of {', '.join(IDENTIFYING)}")
        if any(not header.strip() for header in value.values()):
            raise ValueError("column headers must not be empty")
        return value

    @field_validator("country_names")
    @classmethod
    def _countries(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, code in value.items():
            if not (len(code) == 2 and code.isascii() and code.isalpha()):
                raise ValueError("values must be ISO 3166-1 alpha-2 country codes such as 'BE'")
            out[header_key(name)] = code.upper()
        return out

    @model_validator(mode="after")
    def _consistent(self) -> BoxOfficeMapping:
        seen: dict[str, str] = {}

        def claim(header: str, use: str) -> None:
            key = header_key(header)
            if key in seen:
                raise ValueError(f"column {header!r} is mapped twice ({seen[key]} and {use})")
            seen[key] = use

        for name, header in self.columns.items():
            claim(header, f"columns.{name}")
        if self.record_id is not None:
            # a record id is stored in plaintext beside the encrypted person: never a personal field
            claim(self.record_id, "record_id")
        for i, opt in enumerate(self.optins):
            claim(opt.column, f"optins[{i}].column")
            if opt.decided_at is not None:
                claim(opt.decided_at, f"optins[{i}].decided_at")
        purposes = [o.purpose for o in self.optins]
        if len(set(purposes)) != len(purposes):
            raise ValueError("optins: two columns for the same purpose would contradict each other")
        permissions = [o.permission for o in self.optins]
        if len(set(permissions)) != len(permissions):
            raise ValueError("optins: every opt-in needs its own column or key")
        return self


def load_mapping(path: Path | str) -> BoxOfficeMapping:
    """Read and validate a mapping file; MappingError (exit code 2) names every problem."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except OSError:
        raise MappingError(f"cannot read the mapping file {path.name}") from None
    except UnicodeDecodeError:
        raise MappingError(f"the mapping file {path.name} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"the mapping file {path.name} is not valid TOML: {exc}") from None
    return parse_mapping(raw)


def parse_mapping(raw: dict[str, Any] | BoxOfficeMapping) -> BoxOfficeMapping:
    if isinstance(raw, BoxOfficeMapping):
        return raw
    try:
        return BoxOfficeMapping.model_validate(raw)
    except ValidationError as exc:
        raise MappingError(safe_errors(exc, ("mapping",))) from None
