"""Segment counts from bitmaps (PostgreSQL; migration 0013 holds the tables, functions, triggers).

Every person has a dense ordinal. ``visit_bits`` holds, per (event, house), the people with
net-positive tickets to it; ``access_key_bits`` holds, per access key, the people holding it.
A segment whose filters are all about the event (houses, UiT event types and themes, categories,
performance dates) and the number of visits (up to ``MAX_VISITS_COUNTED``) is then counted as

    people with at least k of the selected events' bitmaps  AND  OR(the caller's key bitmaps)

minus the people whose every key of the caller has expired (the bitmaps keep expired keys; the
expiry is applied when counting, as the SQL statement does): a few bitwise operations over
bitmaps of one bit per person, instead of joining every matching ticket line with every visible
person. The answer is the SQL statement's, to the person; the tests hold the two side by side.

Exactness rests on two things. A change of a key's holders marks the key in the transaction that
makes it (trigger); a count over a marked key uses the SQL statement until ``refresh`` rebuilds
that key's bitmap, so a withdrawal leaves every count at once. The visit bitmaps are rebuilt from the
ticket lines by ``refresh`` for the (event, house) pairs a trigger on ``sales`` marked since; a
count that would select a marked pair returns None, and the caller uses the SQL statement.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, Uuid, bindparam, delete, exists, func, literal, or_, select, text, tuple_, union_all
from sqlalchemy.orm import Session

from consent_hub.audiences.schemas import SegmentFilters
from consent_hub.clock import utcnow
from consent_hub.storage import access_keys
from consent_hub.storage.bulk import BinaryArray, any_of
from consent_hub.storage.models import (
    AccessKey,
    AccessKeyBits,
    AccessKeyBitsDirty,
    Event,
    House,
    PersonOrdinal,
    VisitBits,
    VisitBitsDirty,
)

# filters a bitmap count answers; any other filter set sends the count to the SQL statement
EVENT_LEVEL = frozenset(
    {"houses", "uit_event_types", "uit_themes", "categories", "performance_from", "performance_to", "min_visits"}
)
MAX_VISITS_COUNTED = 4  # "at least k visits" keeps k bitmaps per step of the aggregate
REFRESH_EVENTS = 200  # events whose lines one refresh query reads
STREAM_ROWS = 50_000
# a bitmap built in Python (parameter :b) as a bit string; a constant, spliced into fixed statements
VARBIT_OF_BYTES = "CAST('x' || encode(:b, 'hex') AS varbit)"


def _set(bits: bytearray, ordinal: int) -> None:
    """Bit ``ordinal`` from the left, as PostgreSQL's ``set_bit`` on a bit string counts."""
    bits[ordinal >> 3] |= 0x80 >> (ordinal & 7)


def answerable(f: SegmentFilters) -> bool:
    """Whether the bitmaps hold everything this definition filters on."""
    used = set(f.model_dump(exclude_defaults=True))
    return used <= EVENT_LEVEL and (f.min_visits or 1) <= MAX_VISITS_COUNTED


class SegmentBitmaps:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def available(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def capacity(self) -> int:
        return int(self.session.scalar(select(func.bits_capacity())) or 0)

    def count(
        self,
        where: Sequence[Any],
        houses: Sequence[uuid.UUID] | None,
        k: int,
        keys: Sequence[str],
        now: dt.datetime,
        dimension: Any = None,
    ) -> tuple[int, dict[str, int]] | None:
        """People with at least ``k`` visits to the (event, house) pairs whose event passes
        ``where`` (conditions on ``Event``) and whose house is one of ``houses`` (None: any), who
        hold one of ``keys`` unexpired at ``now``; with ``dimension`` (an expression over
        ``Event`` and ``House``, the pair's house) also those of them per value of it among their
        visits. None while one of those pairs waits for a refresh: the caller then counts with
        the SQL statement. One statement, so the total and the cells come from one snapshot."""
        pairs = _Pairs(where, houses, self.capacity())
        reached = _reached(pairs, k, keys)
        lapsed = _lapsed(reached, keys, now)
        lapsed_count = select(func.count()).select_from(lapsed).scalar_subquery()
        total = select(
            literal(None, String).label("cell"),
            (func.coalesce(func.bit_count(reached.c.b), 0) - lapsed_count).label("n"),
            or_(pairs.stale(), _keys_marked(keys)).label("stale"),
        ).select_from(reached)
        statement: Any = total
        if dimension is not None:
            statement = union_all(total, _cells(pairs, dimension, reached, lapsed))
        rows = self.session.execute(statement).all()
        if any(row[2] for row in rows):
            return None
        first = next(int(r[1]) for r in rows if r[0] is None)
        return first, {str(r[0]): int(r[1]) for r in rows if r[0] is not None and int(r[1]) > 0}

    # -- maintenance ----------------------------------------------------------------------------
    def refresh(self) -> int:
        """Rebuild the visit bitmaps of the (event, house) pairs marked since their last build,
        and drop expired access keys; returns how many pairs were rebuilt.

        Writers are not held back while the lines are read and the bitmaps written: only
        refreshes write ``visit_bits``, one at a time (an advisory lock). The marks are cleared at
        the end, under the audit head as the ``sales`` trigger sets them, and only those that did
        not move since they were read: a pair whose lines changed meanwhile stays marked."""
        self._one_refresh_at_a_time()
        marked = self.session.execute(
            select(VisitBitsDirty.event_id, VisitBitsDirty.house_id, VisitBitsDirty.mark)
        ).all()
        n = self.capacity()
        events = sorted({e for e, _, _ in marked})
        pairs = {(e, h) for e, h, _ in marked}
        for start in range(0, len(events), REFRESH_EVENTS):
            chunk = events[start : start + REFRESH_EVENTS]
            wanted = set(chunk)
            bitmaps = {p: bytearray(n // 8) for p in pairs if p[0] in wanted}
            rows = self.session.execute(
                text(
                    "SELECT s.event_id, s.house_id, o.ordinal FROM sales s "
                    "JOIN person_ordinals o ON o.person_id = s.person_id "
                    "WHERE s.event_id = ANY(:events) AND s.person_id IS NOT NULL "
                    "GROUP BY s.event_id, s.house_id, o.ordinal HAVING sum(s.ticket_count) > 0"
                ).bindparams(bindparam("events", type_=BinaryArray(Uuid()))),
                {"events": chunk},
                execution_options={"yield_per": STREAM_ROWS},
            )
            for event_id, house_id, ordinal in rows:
                bits = bitmaps.get((event_id, house_id))
                if bits is not None:
                    _set(bits, ordinal)
            self.session.execute(
                text(
                    f"INSERT INTO visit_bits (event_id, house_id, bits) VALUES (:e, :h, {VARBIT_OF_BYTES}) "  # noqa: S608
                    "ON CONFLICT (event_id, house_id) DO UPDATE SET bits = EXCLUDED.bits"
                ),
                [{"e": e, "h": h, "b": bytes(b)} for (e, h), b in bitmaps.items()],
            )
        self._marks_lock()  # the order the ``sales`` trigger keeps
        if marked:
            self.session.execute(
                delete(VisitBitsDirty).where(
                    tuple_(VisitBitsDirty.event_id, VisitBitsDirty.house_id, VisitBitsDirty.mark).in_(
                        [(e, h, m) for e, h, m in marked]
                    )
                )
            )
        self.drop_expired()
        self._rebuild_marked_keys()
        return len(pairs)

    def _one_refresh_at_a_time(self) -> None:
        self.session.execute(text("SELECT pg_advisory_xact_lock(hashtext('consent-hub/visit-bits-refresh'))"))

    def _marks_lock(self) -> None:
        """Held by the ``sales`` trigger while it marks pairs and by a refresh while it clears them."""
        self.session.execute(text("SELECT pg_advisory_xact_lock(hashtext('consent-hub/visit-bits-marks'))"))

    def _rebuild_marked_keys(self, marks: Sequence[Any] | None = None) -> int:
        """Rebuild the bitmaps of the keys the ``access_keys`` trigger marked. The marks are read
        first and only those read are cleared: a key whose holders change after the read keeps a
        later mark, so its bitmap is never taken as exact while it may miss a change."""
        if marks is None:
            marks = self.session.execute(select(AccessKeyBitsDirty.id, AccessKeyBitsDirty.key)).all()
        if not marks:
            return 0
        keys = sorted({k for _, k in marks})
        bitmaps = self._key_bitmaps(keys)
        self.session.execute(delete(AccessKeyBits).where(AccessKeyBits.key.in_(keys)))
        self._write_key_bitmaps(bitmaps)
        self.session.execute(delete(AccessKeyBitsDirty).where(AccessKeyBitsDirty.id.in_([i for i, _ in marks])))
        return len(keys)

    def _write_key_bitmaps(self, bitmaps: dict[str, bytearray]) -> None:
        if bitmaps:
            self.session.execute(
                text(f"INSERT INTO access_key_bits (key, bits) VALUES (:k, {VARBIT_OF_BYTES})"),  # noqa: S608
                [{"k": k, "b": bytes(b)} for k, b in bitmaps.items()],
            )

    def _key_bitmaps(self, keys: Sequence[str] | None) -> dict[str, bytearray]:
        """The bitmaps of ``keys`` (None: every key) from ``access_keys``, in one statement."""
        n = self.capacity()
        out: dict[str, bytearray] = {}
        sql = "SELECT k.key, o.ordinal FROM access_keys k JOIN person_ordinals o ON o.person_id = k.person_id"
        statement = text(sql)
        params: dict[str, Any] = {}
        if keys is not None:
            statement = text(sql + " WHERE k.key = ANY(:keys)").bindparams(
                bindparam("keys", type_=BinaryArray(String()))
            )
            params = {"keys": list(keys)}
        # millions of rows for every key: streamed, not held
        for key, ordinal in self.session.execute(statement, params, execution_options={"yield_per": STREAM_ROWS}):
            bits = out.get(key)
            if bits is None:
                bits = out[key] = bytearray(n // 8)
            _set(bits, ordinal)
        return out

    def drop_expired(self) -> int:
        """Delete the access keys of expired grants (the trigger marks their keys, rebuilt next):
        the count looks past expired keys one by one, so they should stay few."""
        keys = list(self.session.scalars(select(AccessKeyBits.key)))
        return access_keys.drop_expired(self.session, keys, utcnow())

    def rebuild_all(self) -> int:
        """After loads that bypassed the triggers (or to repair drift): an ordinal for every person,
        every key bitmap built anew from ``access_keys``, every (event, house) pair with ticket
        lines marked and rebuilt. Returns the number of visit bitmaps rebuilt. Writers go on
        meanwhile: a key whose holders change after its marks were read stays marked."""
        self._one_refresh_at_a_time()
        self.session.execute(
            text("INSERT INTO person_ordinals (person_id) SELECT id FROM people ORDER BY id ON CONFLICT DO NOTHING")
        )
        marks = list(self.session.scalars(select(AccessKeyBitsDirty.id)))
        keys = self._key_bitmaps(None)
        self.session.execute(delete(AccessKeyBits))
        self._write_key_bitmaps(keys)
        if marks:  # the marks read before the keys were: later ones stay
            self.session.execute(delete(AccessKeyBitsDirty).where(AccessKeyBitsDirty.id.in_(marks)))
        self.session.execute(
            text(
                "INSERT INTO visit_bits_dirty (event_id, house_id, mark) "
                "SELECT event_id, house_id, nextval('visit_bits_marks') FROM "
                "(SELECT DISTINCT event_id, house_id FROM sales WHERE person_id IS NOT NULL) s "
                "ON CONFLICT (event_id, house_id) DO UPDATE SET mark = EXCLUDED.mark"
            )
        )
        return self.refresh()


# -- the parts of SegmentBitmaps.count ----------------------------------------------------------


@dataclass(frozen=True)
class _Pairs:
    """The (event, house) pairs counted: events passing ``where``, houses among ``houses``."""

    where: Sequence[Any]
    houses: Sequence[uuid.UUID] | None
    capacity: int

    def fit(self, bits: Any) -> Any:  # one length for every bitmap, as the bitwise operators want
        return func.bits_fit(bits, self.capacity)

    def filter(self, house_column: Any) -> list[Any]:
        return [*self.where, *([house_column.in_(self.houses)] if self.houses is not None else [])]

    def stale(self) -> Any:
        """True while one of the pairs waits for a refresh."""
        return exists(
            select(literal(1))
            .select_from(VisitBitsDirty)
            .join(Event, Event.id == VisitBitsDirty.event_id)
            .where(*self.filter(VisitBitsDirty.house_id))
        )


def _keys_marked(keys: Sequence[str]) -> Any:
    """True while one of ``keys`` changed holders since its bitmap was built."""
    return exists(select(literal(1)).select_from(AccessKeyBitsDirty).where(_held(AccessKeyBitsDirty.key, keys)))


def _held(key_column: Any, keys: Sequence[str]) -> Any:
    return any_of(key_column, keys, String())


def _reached(pairs: _Pairs, k: int, keys: Sequence[str]) -> Any:
    """One bitmap: people with at least ``k`` visits to the pairs who hold one of ``keys``."""
    members = (
        select(func.bits_at_least(pairs.fit(VisitBits.bits), k))
        .join(Event, Event.id == VisitBits.event_id)
        .where(*pairs.filter(VisitBits.house_id))
        .scalar_subquery()
    )
    visible = select(func.bit_or(pairs.fit(AccessKeyBits.bits))).where(_held(AccessKeyBits.key, keys)).scalar_subquery()
    return select(pairs.fit(members).op("&")(pairs.fit(visible)).label("b")).cte("reached")


def _lapsed(reached: Any, keys: Sequence[str], now: dt.datetime) -> Any:
    """The ordinals of people with a bit set through a key that has expired, and no unexpired
    key of the caller (the bitmaps keep expired keys; the expiry is applied here)."""
    expired = (
        select(AccessKey.person_id, PersonOrdinal.ordinal)
        .join(PersonOrdinal, PersonOrdinal.person_id == AccessKey.person_id)
        .where(_held(AccessKey.key, keys), AccessKey.expires_at <= now)
        .group_by(AccessKey.person_id, PersonOrdinal.ordinal)
        .subquery()
    )
    other = AccessKey.__table__.alias("other_key")
    still_valid = exists(
        select(literal(1))
        .select_from(other)
        .where(
            other.c.person_id == expired.c.person_id,
            _held(other.c.key, keys),
            (other.c.expires_at.is_(None)) | (other.c.expires_at > now),
        )
    )
    return (
        select(expired.c.ordinal)
        .select_from(expired)
        .join(reached, literal(True))
        .where(
            reached.c.b.is_not(None),
            expired.c.ordinal < func.length(reached.c.b),
            func.get_bit(reached.c.b, expired.c.ordinal) == 1,
            ~still_valid,
        )
        .cte("lapsed")
    )


def _cells(pairs: _Pairs, dimension: Any, reached: Any, lapsed: Any) -> Any:
    """(value of ``dimension``, people reached with a visit to a pair of that value, False)."""
    per_value = (
        select(dimension.label("cell"), func.bit_or(pairs.fit(VisitBits.bits)).label("bits"))
        .join(Event, Event.id == VisitBits.event_id)
        .join(House, House.id == VisitBits.house_id)
        .where(*pairs.filter(VisitBits.house_id), dimension.is_not(None))
        .group_by(dimension)
        .subquery()
    )
    in_cell = per_value.c.bits.op("&")(reached.c.b)
    lapsed_in_cell = (
        select(func.count()).select_from(lapsed).where(func.get_bit(in_cell, lapsed.c.ordinal) == 1)
    ).scalar_subquery()
    return select(
        per_value.c.cell, (func.coalesce(func.bit_count(in_cell), 0) - lapsed_in_cell), literal(False)
    ).select_from(per_value.join(reached, literal(True)))
