"""Stored answers and spent budgets (queries only)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from consent_hub.storage.bulk import upsert_rows
from consent_hub.storage.models import CountAnswer, PrivacyBudget


class CountRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def answers(self, house: str, questions: Sequence[str], period: dt.date) -> dict[str, int]:
        rows = self.session.execute(
            select(CountAnswer.question, CountAnswer.noisy).where(
                CountAnswer.house == house, CountAnswer.period == period, CountAnswer.question.in_(questions)
            )
        )
        return {q: int(n) for q, n in rows}

    def keep_answers(self, house: str, noisy: dict[str, int], period: dt.date, now: dt.datetime) -> None:
        """Store new answers; one stored by a concurrent request first is kept (and read back)."""
        rows = [
            {"house": house, "question": q, "period": period, "noisy": n, "created_at": now} for q, n in noisy.items()
        ]
        upsert_rows(self.session, CountAnswer.__table__, rows, ("house", "question", "period"))  # type: ignore[arg-type]

    def open_period(self, house: str, period: str, now: dt.datetime) -> bool:
        """Make sure the house has a budget row for the period; True when this call created it."""
        row = {"house": house, "period": period, "spent_micro": 0, "updated_at": now}
        return upsert_rows(self.session, PrivacyBudget.__table__, [row], ("house", "period")) > 0  # type: ignore[arg-type]

    def spend(self, house: str, period: str, cost_micro: int, limit_micro: int, now: dt.datetime) -> bool:
        """Spend atomically: one conditional UPDATE, so concurrent requests never pass the limit."""
        result = self.session.execute(
            update(PrivacyBudget)
            .where(
                PrivacyBudget.house == house,
                PrivacyBudget.period == period,
                PrivacyBudget.spent_micro + cost_micro <= limit_micro,
            )
            .values(spent_micro=PrivacyBudget.spent_micro + cost_micro, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]

    def spent(self, house: str, period: str) -> int:
        value = self.session.scalar(
            select(PrivacyBudget.spent_micro).where(PrivacyBudget.house == house, PrivacyBudget.period == period)
        )
        return int(value or 0)

    def forget_answers_before(self, period: dt.date) -> None:
        self.session.execute(delete(CountAnswer).where(CountAnswer.period < period))
