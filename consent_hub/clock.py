"""The hub's one clock: every timestamp it stores or compares is an aware UTC datetime from here
(tests and the fakes move time by patching this function, never the datetime module)."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
