"""Engine-neutral records, as connectors hand them to the ingest service.

A connector maps the engine's own shape onto these; everything the hub decides (which person,
which house, which consent) happens in the service. House fields are house slugs: the connector
resolves an engine's organisation or account through the hub's house table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EngineOptIn:
    """An opt-in as the engine holds it: collected by ``house`` for a house-scoped ``purpose``."""

    permission: str
    purpose: str
    house: str
    opted_in: bool
    decided_at: dt.datetime


@dataclass
class CustomerRecord:
    external_id: str
    fields: dict[str, Any]  # person fields (names as in PERSON_FIELDS), not yet validated
    seen_at: dt.datetime  # the engine's last change of the record
    house: str | None = None  # the account's house, for engines with one account per house
    opt_ins: list[EngineOptIn] = field(default_factory=list)
    deleted: bool = False


@dataclass
class EventRecord:
    external_id: str
    house: str | None
    title: str
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    categories: list[str]
    updated_at: dt.datetime


@dataclass
class SaleLine:
    external_id: str
    customer_id: str | None  # None for an anonymous sale
    house: str
    event_id: str
    order_ref: str | None
    ticket_type: str | None
    program: str | None
    price_cents: int
    ticket_count: int  # negative for a return
    channel: str | None
    sold_at: dt.datetime


@dataclass
class OrderRecord:
    """An order whose lines replace whatever the hub held for it (engines with mutable orders)."""

    order_ref: str
    lines: list[SaleLine]
    updated_at: dt.datetime


@dataclass
class MembershipRecord:
    external_id: str
    customer_id: str
    program: str
    seller_house: str
    houses: list[str]  # every house the program covers
    sold_at: dt.datetime
    expires_at: dt.datetime | None
    cancelled: bool = False


@dataclass(frozen=True)
class Skip:
    """A record left out: the engine's record id and the rule it broke, never its values."""

    ref: str
    reason: str


@dataclass
class PageResult:
    read: int = 0
    written: int = 0
    suppressed: int = 0
    skipped: list[Skip] = field(default_factory=list)

    def skip(self, ref: str, reason: str) -> None:
        self.skipped.append(Skip(ref, reason[:300]))

    def merge(self, other: PageResult) -> None:
        self.read += other.read
        self.written += other.written
        self.suppressed += other.suppressed
        self.skipped.extend(other.skipped)
