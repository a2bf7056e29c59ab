"""One error hierarchy, mapped to one error shape: ``{"error": "<Name>", "detail": ...}``.

Messages never carry personal data: they name the field or the rule that failed, not the value.
"""

from __future__ import annotations

from typing import Any


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


class BadRequest(HubError):
    """The request is malformed."""

    status_code = 400
    exit_code = 2


class InvalidInput(BadRequest):
    """A value did not pass validation."""

    status_code = 422


class NotFound(HubError):
    """Not found."""

    status_code = 404
    exit_code = 3


class Conflict(HubError):
    """The request conflicts with the current state."""

    status_code = 409
    exit_code = 4


class Unauthenticated(HubError):
    """Missing, malformed, unknown, revoked or expired credentials."""

    status_code = 401
    exit_code = 5


class Forbidden(HubError):
    """The caller's role does not allow this operation."""

    status_code = 403
    exit_code = 6


class FilterNotAllowed(Forbidden):
    """A segment filter reads a field group that the caller's grant does not give for the purpose."""


class PrivacyBudgetExhausted(HubError):
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
