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
    """Where a data-subject request stands (GDPR Art. 12). An extension (Art. 12(3)) is not a
    status: it moves ``extended_due_at`` with a recorded reason while the work goes on."""

    RECEIVED = "received"
    VERIFIED = "verified"  # the person's identity is established (signed-in e-mail or a staff step)
    IN_PROGRESS = "in-progress"
    WAITING_FOR_HOUSE = "waiting-for-house"  # some controller houses have not signed off their part
    DONE = "done"
    REFUSED = "refused"  # with the reason and the right to complain to the DPA (Art. 12(4))
    WITHDRAWN_BY_PERSON = "withdrawn-by-person"


# a request in one of these is closed: no more steps but the register line
CLOSED_REQUEST_STATUSES: frozenset[str] = frozenset(
    {RequestStatus.DONE, RequestStatus.REFUSED, RequestStatus.WITHDRAWN_BY_PERSON}
)


class RequestPartStatus(StrEnum):
    """One controller house's part of a request: each signs off under the request's one deadline."""

    OPEN = "open"
    SIGNED_OFF = "signed-off"


class RequestChannel(StrEnum):
    """How a request reached the hub."""

    WEB = "web"  # the buyer's own pages
    BOX_OFFICE = "box-office"  # at the counter, registered by staff
    MAIL = "mail"  # by post or e-mail, registered by staff
    API = "api"


class IdentityCheck(StrEnum):
    """How the person's identity was established (recorded, never the evidence itself)."""

    SIGNED_IN_EMAIL = "signed-in-email"
    STAFF = "staff"  # a staff step with a note holding no personal data


def sql_in(column: str, values: type[StrEnum]) -> str:
    """``column IN ('a', 'b')`` from an enum's members, for CHECK constraints (values are fixed
    identifiers of this module, never input)."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"
