"""The closed sets of values the hub stores: one member per value, so code compares to a member
and migration 0017's CHECK constraints (built from the same members) refuse anything else.

This module imports nothing from the hub: models, repositories and raw SQL all use it without a
cycle. Data-subject requests (issue 15) have no status yet, so there is no enum for them here.
"""

from __future__ import annotations

from enum import StrEnum


class PersonStatus(StrEnum):
    ACTIVE = "active"
    RESTRICTED = "restricted"  # still recorded, never visible or sent
    ERASED = "erased"


class ConsentStatus(StrEnum):
    """What a consent event records (and the projection keeps)."""

    GRANTED = "granted"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class EffectiveConsentStatus(StrEnum):
    """A consent as read: a granted one past its expiry reads as expired (never stored)."""

    GRANTED = "granted"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    SUPERSEDED = "superseded"


class DeliveryKind(StrEnum):
    UPSERT = "upsert"
    UNSUBSCRIBE = "unsubscribe"
    ERASE = "erase"
    RESTRICTION = "restriction"
    RESTRICTION_LIFTED = "restriction-lifted"


NOTHING_SENT = "nothing"  # ``sent_as`` of a delivery the send-time check turned into no message


class SyncRunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class EngineCustomerStatus(StrEnum):
    LINKED = "linked"
    SUPPRESSED = "suppressed"  # not imported: the e-mail is on the suppression list
    DELETED = "deleted"


def sql_in(column: str, values: type[StrEnum]) -> str:
    """``column IN ('a', 'b')`` from an enum's members, for CHECK constraints (values are fixed
    identifiers of this module, never input)."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"
