"""Moving-window limits for the sign-in pages (the buyer's and the DPO console's), one limiter
per cluster runtime and process; ``rate_limit_storage`` names a shared store (redis://...) when
several processes serve the cluster."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from limits import RateLimitItem
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from consent_hub.clock import utcnow
from consent_hub.clusters import ClusterRuntime


class MovingWindow:
    def __init__(self, storage_url: str) -> None:
        self.window = MovingWindowRateLimiter(storage_from_string(storage_url))

    def wait(self, item: RateLimitItem, *keys: str) -> int | None:
        """None while ``keys`` are within ``item``; otherwise the seconds until they are."""
        if self.window.test(item, *keys):
            return None
        return self._seconds_left(item, *keys)

    def hit(self, item: RateLimitItem, *keys: str) -> int | None:
        """Count one; None when it was within ``item``, else the seconds until it would be."""
        if self.window.hit(item, *keys):
            return None
        return self._seconds_left(item, *keys)

    def _seconds_left(self, item: RateLimitItem, *keys: str) -> int:
        reset = self.window.get_window_stats(item, *keys).reset_time
        return int(reset - utcnow().timestamp()) + 1


L = TypeVar("L")
_limiters: dict[tuple[str, int], tuple[ClusterRuntime, object]] = {}
_limiters_lock = threading.Lock()


def limiter_of(kind: str, rt: ClusterRuntime, make: Callable[[], L]) -> L:
    """The ``kind`` limiter of a cluster runtime, made once per process and runtime."""
    with _limiters_lock:
        entry = _limiters.get((kind, id(rt)))
        if entry is None or entry[0] is not rt:
            entry = (rt, make())
            _limiters[(kind, id(rt))] = entry
        limiter: L = entry[1]  # type: ignore[assignment]
        return limiter
