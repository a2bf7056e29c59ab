"""An in-memory table with Ticketmatic's change-tracking columns (lastupdatets, createdts) and its select."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar


class _Rec(Protocol):
    id: int
    createdts: int
    lastupdatets: int


R = TypeVar("R", bound=_Rec)


class Table(Generic[R]):
    """Records of one kind in one account, with sorted indexes on id, ``lastupdatets`` and ``createdts``."""

    def __init__(self) -> None:
        self.records: dict[int, R] = {}
        self.ids: list[int] = []
        self.by_lu: list[tuple[int, int]] = []
        self.by_created: list[tuple[int, int]] = []
        self.version = 0
        self._cache: dict[tuple[Any, ...], list[int]] = {}
        self._cache_version = -1

    def load(self, records: Sequence[R]) -> None:
        """Bulk load (build time): records in any order."""
        for rec in records:
            self.records[rec.id] = rec
        self.ids = sorted(self.records)
        self.by_lu = sorted((r.lastupdatets, r.id) for r in self.records.values())
        self.by_created = sorted((r.createdts, r.id) for r in self.records.values())
        self.version += 1

    def add(self, rec: R) -> None:
        self.records[rec.id] = rec
        insort(self.ids, rec.id)
        insort(self.by_lu, (rec.lastupdatets, rec.id))
        insort(self.by_created, (rec.createdts, rec.id))
        self.version += 1

    def touch(self, rec: R, stamp: int) -> None:
        """Move ``rec.lastupdatets`` forward to ``stamp`` (never backwards) and keep the index sorted."""
        if stamp <= rec.lastupdatets:
            self.version += 1
            return
        old = (rec.lastupdatets, rec.id)
        i = bisect_left(self.by_lu, old)
        if i < len(self.by_lu) and self.by_lu[i] == old:
            del self.by_lu[i]
        rec.lastupdatets = stamp
        insort(self.by_lu, (stamp, rec.id))
        self.version += 1

    def select(self, orderby: str, asc: bool, since: int | None, keep: Callable[[R], bool] | None = None) -> list[int]:
        """Ids of the matching records in the asked order. Cached until the table changes."""
        if self._cache_version != self.version:
            self._cache.clear()
            self._cache_version = self.version
        key = (orderby, asc, since, keep)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        recs = self.records
        if since is None:
            if orderby == "lastupdatets":
                ids = [i for _, i in self.by_lu]
            elif orderby == "createdts":
                ids = [i for _, i in self.by_created]
            else:
                ids = list(self.ids)
        else:
            tail = self.by_lu[bisect_left(self.by_lu, (since, -1)) :]
            if orderby == "lastupdatets":
                ids = [i for _, i in tail]
            elif orderby == "createdts":
                ids = [i for _, i in sorted((recs[i].createdts, i) for _, i in tail)]
            else:
                ids = sorted(i for _, i in tail)
        if keep is not None:
            ids = [i for i in ids if keep(recs[i])]
        if not asc:
            ids.reverse()
        if len(self._cache) >= 16:
            self._cache.clear()
        self._cache[key] = ids
        return ids
