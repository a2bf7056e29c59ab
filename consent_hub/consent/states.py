"""A consent state as read: its stored row and its status at read time (expiry applied), shared
by the service and the OSLO export so that neither imports the other."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from consent_hub.storage.models import ConsentState
from consent_hub.vocabulary import ConsentStatus, EffectiveConsentStatus

OSLO_STATUS: dict[str, str] = {
    EffectiveConsentStatus.GRANTED: "toegelaten",
    EffectiveConsentStatus.REFUSED: "geweigerd",
    EffectiveConsentStatus.WITHDRAWN: "geweigerd",
    EffectiveConsentStatus.EXPIRED: "nietGekend",
}


@dataclass(frozen=True)
class StateView:
    state: ConsentState
    effective_status: str

    @property
    def oslo_status(self) -> str:
        return OSLO_STATUS[self.effective_status]


def effective_status(status: str, expires_at: dt.datetime | None, now: dt.datetime) -> str:
    if status == ConsentStatus.GRANTED and expires_at is not None and expires_at <= now:
        return EffectiveConsentStatus.EXPIRED
    return status
