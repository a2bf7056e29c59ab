"""One error hierarchy for the hub and the connectors, mapped to one error shape:
``{"error": "<Name>", "detail": ...}`` (the name is the class name).

- ``ClientError``: the caller can act on it; an HTTP 4xx status (BadRequest, NotFound, Conflict, ...),
  with one named subclass per case that says what happened (``PersonNotFound``, ``EmailTaken``).
- ``SyncError``: an exchange with an engine or a destination failed; the subclass says whether it is
  retried (``RetryableError``), the run stops (``FatalSyncError``), both in connectors.sources.base,
  or one record is skipped (``BadRecord``, connectors.sources.mapping); ``DeliveryFailed``
  (outbox.destinations) says it by its ``retryable`` flag.
- the rest (configuration, keys, decryption, isolation) are the hub's own faults: 5xx.

Messages never carry personal data: they name the field or the rule that failed, not the value.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class FieldProblem(BaseModel):
    """One value that did not pass validation: where and which rule, never the value."""

    field: str = Field(description="dotted path of the value; a bulk row's starts with its index (3.email)")
    problem: str
    type: str | None = Field(default=None, description="the rule's code, e.g. missing, extra_forbidden, value_error")


class ErrorBody(BaseModel):
    """Every error answer of the hub. ``detail``: a sentence, the list of problems of a 422
    (bulk rows included: each problem's field starts with the row's index), or an object."""

    error: str = Field(description="the error's name, e.g. PersonNotFound, InvalidInput, Forbidden")
    detail: str | list[FieldProblem] | dict[str, Any] | None = None


class HubError(Exception):
    """Base of every error the hub reports on purpose."""

    status_code = 500
    exit_code = 1
    headers: dict[str, str] | None = None  # sent with the answer (Retry-After, ...)

    def __init__(self, detail: Any = None) -> None:
        self.detail = detail if detail is not None else self.__class__.__doc__
        super().__init__(str(self.detail))

    @property
    def name(self) -> str:
        return self.__class__.__name__


class ClientError(HubError):
    """The request cannot be served as it is; the answer's 4xx status says why."""

    status_code = 400
    exit_code = 2


class BadRequest(ClientError):
    """The request is malformed."""

    status_code = 400
    exit_code = 2


class InvalidInput(BadRequest):
    """A value did not pass validation."""

    status_code = 422


class NotFound(ClientError):
    """Not found."""

    status_code = 404
    exit_code = 3


class Conflict(ClientError):
    """The request conflicts with the current state."""

    status_code = 409
    exit_code = 4


class Unauthenticated(ClientError):
    """Missing, malformed, unknown, revoked or expired credentials."""

    status_code = 401
    exit_code = 5


class Forbidden(ClientError):
    """The caller's role does not allow this operation."""

    status_code = 403
    exit_code = 6


class FilterNotAllowed(Forbidden):
    """A segment filter reads a field group that the caller's grant does not give for the purpose."""


class PrivacyBudgetExhausted(ClientError):
    """The house has spent its privacy budget for protected figures in this period."""

    status_code = 429
    exit_code = 11

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


class UnknownCluster(BadRequest):
    """No cluster of that name is configured."""

    status_code = 404


class ConfigurationError(HubError):
    """The hub configuration is invalid."""

    status_code = 500
    exit_code = 7


class KeyringError(HubError):
    """A key provider cannot supply the cluster's keys (missing, unreadable, malformed or unsafe)."""

    status_code = 503
    exit_code = 8


class DecryptionError(HubError):
    """A ciphertext could not be opened: wrong key, wrong location or tampered."""

    status_code = 500
    exit_code = 9


class ErasedPerson(NotFound):
    """The person was erased; their data can no longer be decrypted."""


class ClusterIsolationError(HubError):
    """Code tried to open a second cluster's session while one is open."""

    status_code = 500
    exit_code = 10


# -- named cases, by domain (the status and exit code are their base's) ------------------------
class PersonNotFound(NotFound):
    """No such person, or none the caller may see: the same answer for both."""


class HouseNotFound(NotFound):
    """No house of that slug is registered."""


class HouseExists(Conflict):
    """A house of that slug is registered already."""


class ClientNotFound(NotFound):
    """No such API client."""


class EmailTaken(Conflict):
    """Another person has this e-mail address."""


class PurposeNotFound(NotFound):
    """No purpose of that key is in the catalogue."""


class NoticeNotFound(NotFound):
    """No notice is published for the purpose in that language."""


class IdempotencyKeyReused(Conflict):
    """The idempotency key was used for a different request."""


class SegmentNotFound(NotFound):
    """No such segment."""


class SegmentNameTaken(Conflict):
    """The house has a segment of that name already."""


class SyncRunNotFound(NotFound):
    """No such sync run."""


class RunAlreadyActive(Conflict):
    """A run of the connector is in progress."""


# -- connectors and destinations ----------------------------------------------------------------
class SyncError(HubError):
    """An exchange with an engine or a destination failed."""

    status_code = 502
