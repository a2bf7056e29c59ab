"""The purposes catalogue, read from ``policies/purposes.yaml`` and validated."""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from consent_hub.errors import ConfigurationError, PurposeNotFound

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"
LANGUAGES = ("nl", "en", "fr")
FIELD_GROUPS = frozenset({"contact", "identity", "address", "demographics", "purchases-house", "purchases-cluster"})
LegalBasis = Literal["consent", "contract", "legitimate-interest", "legal-obligation"]
Scope = Literal["own-house", "house", "cluster", "program", "recipient"]
ISO_DURATION = r"^P(\d+Y)?(\d+M)?(\d+D)?$"

# scope of a purpose -> the kind of target a consent for it names
TARGET_KIND: dict[str, str] = {
    "own-house": "house",
    "house": "house",
    "cluster": "cluster",
    "program": "program",
    "recipient": "recipient",
}

DPV_LEGAL_BASIS = {
    "consent": "dpv:Consent",
    "contract": "dpv:Contract",
    "legitimate-interest": "dpv:LegitimateInterest",
    "legal-obligation": "dpv:LegalObligation",
}


class NoticeText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    notice: str = Field(min_length=1, max_length=5000)

    @property
    def sha256(self) -> str:
        return notice_hash(self.title, self.notice)


class DpvTerms(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(pattern=r"^dpv:[A-Za-z]+$")
    legal_basis: str = Field(pattern=r"^dpv:[A-Za-z]+$")


class Purpose(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z][a-z0-9-]{1,79}$")
    legal_basis: LegalBasis
    scope: Scope
    field_groups: tuple[str, ...]
    retention: str = Field(pattern=ISO_DURATION)
    consent_validity: str | None = Field(default=None, pattern=ISO_DURATION)
    recipients: tuple[str, ...] = ()
    pseudonymised: bool = False
    dpv: DpvTerms
    channels: tuple[str, ...] = ()
    texts: dict[str, NoticeText]

    @model_validator(mode="after")
    def _consistent(self) -> Purpose:
        unknown = set(self.field_groups) - FIELD_GROUPS
        if unknown:
            raise ValueError(f"unknown field groups {sorted(unknown)}")
        missing = [lang for lang in LANGUAGES if lang not in self.texts]
        if missing:
            raise ValueError(f"texts missing for {missing}")
        if (self.scope == "recipient") != bool(self.recipients):
            raise ValueError("a recipient-scoped purpose names its recipients, and only it does")
        if self.legal_basis == "consent" and self.consent_validity is None:
            raise ValueError("a consent-based purpose needs a consent_validity")
        return self

    @property
    def target_kind(self) -> str:
        return TARGET_KIND[self.scope]

    @property
    def needs_consent(self) -> bool:
        return self.legal_basis == "consent"


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purposes: tuple[Purpose, ...]

    def get(self, key: str) -> Purpose:
        for purpose in self.purposes:
            if purpose.key == key:
                return purpose
        raise PurposeNotFound(f"unknown purpose {key!r}")

    def purpose_keys(self) -> list[str]:
        return [p.key for p in self.purposes]


def notice_hash(title: str, notice: str) -> str:
    """SHA-256 of the exact text shown: title and notice, UTF-8, separated by a blank line."""
    return hashlib.sha256(f"{title}\n\n{notice}".encode()).hexdigest()


@functools.lru_cache(maxsize=8)
def load_catalogue(path: Path = POLICIES_DIR / "purposes.yaml") -> Catalogue:
    try:
        raw = yaml.safe_load(path.read_text("utf-8"))
        catalogue = Catalogue.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read the purposes catalogue {path.name}: {type(exc).__name__}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"invalid purposes catalogue {path.name}: {problems}") from None
    keys = catalogue.purpose_keys()
    if len(set(keys)) != len(keys):
        raise ConfigurationError("purpose keys must be unique")
    return catalogue


def iso_duration_days(duration: str) -> int:
    """Days in an ISO 8601 duration of years, months and days (a year 365, a month 30 days)."""
    match = re.match(ISO_DURATION, duration)
    if not match:
        raise ValueError("not an ISO 8601 duration")
    years, months, days = (int(g[:-1]) if g else 0 for g in match.groups())
    return years * 365 + months * 30 + days
