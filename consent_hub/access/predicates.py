"""Each basis as a fixed, parameterised SQL predicate over people, relations and consent states:
the one rule of visibility, composed by the access repository (lists, lookups, counts) and by the
audiences repository (segments); nothing else decides visibility."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, false, or_, true

from consent_hub.storage import access_keys
from consent_hub.storage.models import ConsentState, Person, Relation
from consent_hub.vocabulary import ConsentStatus, PersonStatus


@dataclass(frozen=True)
class Scope:
    """Who asks: the house (none for cluster-level roles), the purpose, the moment."""

    cluster: str
    house: str | None
    house_id: uuid.UUID | None
    purpose: str
    now: dt.datetime


def basis_predicate(basis: str, scope: Scope) -> ColumnElement[bool]:
    if basis in ("own-house-customer", "program-subscriber"):
        if scope.house_id is None:
            return false()
        kind = "customer" if basis == "own-house-customer" else "subscriber"
        return exists().where(
            Relation.person_id == Person.id, Relation.house_id == scope.house_id, Relation.kind == kind
        )
    if basis in ("consent-house", "consent-cluster"):
        if scope.house is None:
            return false()
        kind, ref = ("house", scope.house) if basis == "consent-house" else ("cluster", scope.cluster)
        return exists().where(
            ConsentState.person_id == Person.id,
            ConsentState.purpose == scope.purpose,
            ConsentState.target_kind == kind,
            ConsentState.target_ref == ref,
            ConsentState.status == ConsentStatus.GRANTED,
            or_(ConsentState.expires_at.is_(None), ConsentState.expires_at > scope.now),
        )
    if basis == "any-in-cluster":
        return true() if scope.house is None else false()
    raise ValueError(f"unknown basis {basis!r}")


def basis_key(basis: str, scope: Scope) -> str:
    assert scope.house_id is not None and scope.house is not None
    if basis == "own-house-customer":
        return access_keys.relation_key("customer", scope.house_id)
    if basis == "program-subscriber":
        return access_keys.relation_key("subscriber", scope.house_id)
    if basis == "consent-house":
        return access_keys.consent_key("house", scope.house, scope.purpose)
    if basis == "consent-cluster":
        return access_keys.consent_key("cluster", scope.cluster, scope.purpose)
    raise ValueError(f"basis {basis!r} has no access key")


def visible(bases: Sequence[str], scope: Scope) -> ColumnElement[bool]:
    if not bases:
        return false()
    return and_(Person.status == PersonStatus.ACTIVE, or_(*(basis_predicate(b, scope) for b in bases)))
