"""The shared fault plan of the fakes, and the two class options that keep Ticketmatic's and UiTdatabank's habits."""

from __future__ import annotations

from typing import ClassVar

from fakes.faults import FaultPlan


class _CountsAll(FaultPlan):
    fail_every_counts_all: ClassVar[bool] = True


class _AllUnavailable(FaultPlan):
    server_errors_alternate: ClassVar[bool] = False


def _answers(plan: FaultPlan, n: int) -> list[int]:
    """The status each of ``n`` requests gets from the plan: 429, a 5xx, or 200."""
    out = []
    for _ in range(n):
        if plan.take_rate_limit():
            out.append(429)
        else:
            out.append(plan.take_server_error() or 200)
    return out


def test_pending_faults_come_first_then_every_kth_request_fails() -> None:
    plan = FaultPlan(rate_limit=1, server_errors=3, fail_every=2)
    # the default counts fail_every only over the requests no pending fault answered
    assert _answers(plan, 8) == [429, 503, 500, 503, 200, 503, 200, 503]


def test_fail_every_can_count_every_request() -> None:
    plan = _CountsAll(rate_limit=1, server_errors=1, fail_every=3)
    # requests 1 and 2 are used up by the pending faults but still counted: the 3rd, 6th, ... fail
    assert _answers(plan, 7) == [429, 503, 503, 200, 200, 503, 200]


def test_server_errors_can_all_be_503() -> None:
    assert _answers(_AllUnavailable(server_errors=3), 4) == [503, 503, 503, 200]
    assert _answers(FaultPlan(server_errors=3), 4) == [503, 500, 503, 200]


def test_retry_after_is_written_in_whole_seconds_when_whole() -> None:
    assert FaultPlan(retry_after=2.0).retry_after_headers() == {"Retry-After": "2"}
    assert FaultPlan(retry_after=0.5).retry_after_headers() == {"Retry-After": "0.5"}
    assert FaultPlan(retry_after=None).retry_after_headers() == {}
