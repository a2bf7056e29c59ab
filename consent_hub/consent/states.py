"""A consent state as read: its stored row and its status at read time (expiry applied), shared
by the service and the OSLO export so that neither imports the other."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from consent_hub.storage.models import ConsentState

OSLO_STATUS = {
    "granted": "toegelaten",
    "refused": "geweigerd",
    "withdrawn": "geweigerd",
    "expired": "nietGekend",
}


@dataclass(frozen=True)
class StateView:
    state: ConsentState
    effective_status: str

    @property
    def oslo_status(self) -> str:
        return OSLO_STATUS[self.effective_status]


def effective_status(status: str, expires_at: dt.datetime | None, now: dt.datetime) -> str:
    if status == "granted" and expires_at is not None and expires_at <= now:
        return "expired"
    return status
