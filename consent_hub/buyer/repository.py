"""Queries of the buyer's hub: sign-ins, sessions, requests, and the rows about one person that
the buyer's pages show (relations, purchases, memberships, notices). No personal data in plain text
is read or written here: tokens and session ids arrive as keyed hashes, request details sealed."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from consent_hub.storage.models import (
    BuyerSession,
    BuyerSignIn,
    DataSubjectRequest,
    Event,
    House,
    Notice,
    Person,
    ProgramMembership,
    Relation,
    Sale,
)


class BuyerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- sign-ins and sessions ---------------------------------------------------------------------
    def person_by_email_index(self, email_bidx: bytes) -> Person | None:
        return self.session.scalar(select(Person).where(Person.email_bidx == email_bidx))

    def person(self, person_id: uuid.UUID) -> Person | None:
        return self.session.get(Person, person_id)

    def add(self, row: object) -> None:
        self.session.add(row)
        self.session.flush()

    def sign_in_by_token(self, token_hash: bytes) -> BuyerSignIn | None:
        return self.session.scalar(select(BuyerSignIn).where(BuyerSignIn.token_hash == token_hash))

    def sign_in_by_form(self, form_hash: bytes) -> BuyerSignIn | None:
        return self.session.scalar(select(BuyerSignIn).where(BuyerSignIn.form_hash == form_hash))

    def use_sign_in(self, sign_in_id: uuid.UUID, now: dt.datetime) -> bool:
        """Mark the sign-in used, if nobody used it first (one conditional UPDATE: used once)."""
        result = self.session.execute(
            update(BuyerSignIn)
            .where(BuyerSignIn.id == sign_in_id, BuyerSignIn.used_at.is_(None), BuyerSignIn.revoked_at.is_(None))
            .values(used_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def spend_try(self, sign_in_id: uuid.UUID) -> int:
        """One wrong code: the tries left after it (conditional, so two requests cannot share a try)."""
        self.session.execute(
            update(BuyerSignIn)
            .where(BuyerSignIn.id == sign_in_id, BuyerSignIn.tries_left > 0)
            .values(tries_left=BuyerSignIn.tries_left - 1)
        )
        left = self.session.scalar(select(BuyerSignIn.tries_left).where(BuyerSignIn.id == sign_in_id))
        return int(left or 0)

    def revoke_sign_ins(self, person_id: uuid.UUID, now: dt.datetime) -> int:
        result = self.session.execute(
            update(BuyerSignIn)
            .where(BuyerSignIn.person_id == person_id, BuyerSignIn.used_at.is_(None), BuyerSignIn.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def session_by_hash(self, id_hash: bytes) -> BuyerSession | None:
        return self.session.get(BuyerSession, id_hash)

    def touch_session(self, id_hash: bytes, now: dt.datetime, language: str | None = None) -> None:
        values: dict[str, object] = {"last_seen_at": now}
        if language is not None:
            values["language"] = language
        self.session.execute(update(BuyerSession).where(BuyerSession.id_hash == id_hash).values(**values))

    def end_session(self, id_hash: bytes, now: dt.datetime) -> None:
        self.session.execute(
            update(BuyerSession)
            .where(BuyerSession.id_hash == id_hash, BuyerSession.ended_at.is_(None))
            .values(ended_at=now)
        )

    def end_sessions_of(self, person_id: uuid.UUID, now: dt.datetime) -> None:
        self.session.execute(
            update(BuyerSession)
            .where(BuyerSession.person_id == person_id, BuyerSession.ended_at.is_(None))
            .values(ended_at=now)
        )

    # -- what the pages show -----------------------------------------------------------------------
    def houses(self) -> Sequence[House]:
        return self.session.scalars(select(House).order_by(House.name)).all()

    def relations_of(self, person_id: uuid.UUID) -> Sequence[Relation]:
        return self.session.scalars(select(Relation).where(Relation.person_id == person_id)).all()

    def sales_of(self, person_id: uuid.UUID) -> Sequence[tuple[Sale, Event | None]]:
        rows = self.session.execute(
            select(Sale, Event)
            .join(Event, Event.id == Sale.event_id, isouter=True)
            .where(Sale.person_id == person_id)
            .order_by(Sale.sold_at)
        ).all()
        return [(sale, event) for sale, event in rows]

    def memberships_of(self, person_id: uuid.UUID) -> Sequence[ProgramMembership]:
        return self.session.scalars(
            select(ProgramMembership)
            .where(ProgramMembership.person_id == person_id)
            .order_by(ProgramMembership.sold_at)
        ).all()

    def notices(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Notice]:
        if not ids:
            return {}
        return {n.id: n for n in self.session.scalars(select(Notice).where(Notice.id.in_(list(set(ids)))))}

    # -- data-subject requests -----------------------------------------------------------------------
    def requests_of(self, person_id: uuid.UUID) -> Sequence[DataSubjectRequest]:
        return self.session.scalars(
            select(DataSubjectRequest)
            .where(DataSubjectRequest.person_id == person_id)
            .order_by(DataSubjectRequest.received_at.desc())
        ).all()
