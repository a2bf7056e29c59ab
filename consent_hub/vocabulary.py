"""The closed sets of values the hub stores: one member per value, so code compares to a member
and migration 0017's CHECK constraints (built from the same members) refuse anything else.

This module imports nothing from the hub: models, repositories and raw SQL all use it without a
cycle. Data-subject requests have their kinds and statuses here since the buyer's pages (issue 14)
store them; the staff desk (issue 15) moves them along.
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


class RequestKind(StrEnum):
    """What a data-subject request asks for (GDPR Art. 15-21)."""

    ACCESS = "access"
    PORTABILITY = "portability"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"
    RESTRICTION = "restriction"
    OBJECTION = "objection"


class RequestStatus(StrEnum):
    """Where a data-subject request stands. The buyer's pages write ``received`` (and
    ``completed`` for an erasure they confirmed, which runs at once); the staff desk (issue 15)
    moves the rest."""

    RECEIVED = "received"
    IN_PROGRESS = "in-progress"
    EXTENDED = "extended"  # due date moved by up to two months, with a reason (Art. 12(3))
    COMPLETED = "completed"
    REJECTED = "rejected"  # with reasons and the right to complain (Art. 12(4))
    WITHDRAWN_BY_PERSON = "withdrawn-by-person"


def sql_in(column: str, values: type[StrEnum]) -> str:
    """``column IN ('a', 'b')`` from an enum's members, for CHECK constraints (values are fixed
    identifiers of this module, never input)."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"
