"""Protected figures shown to a house, under a privacy budget (docs/count-privacy.md).

Every figure a house is shown (a segment's count, each breakdown cell, a people count) is the
true count plus fresh discrete Laplace noise of ``count_epsilon``, drawn from the CSPRNG, and is
shown as "<10" when the *noisy* value is below the minimum cohort (a threshold on the true value
would itself tell). Each fresh figure costs ``count_epsilon`` from the house's budget for the
calendar month (``count_budget``), spent by one conditional UPDATE; a house that has spent it
gets 429 until the month turns. The same question asked again the same day (same role, purpose,
canonical definition and cell) gets the stored answer at no cost, so repeating a question does
not average its noise away, and a withdraw / re-consent loop cannot be watched within a day;
across days and across near-identical definitions every fresh answer is paid for, which is what
bounds what a house can learn of one person in a month.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.counts.mechanism import discrete_laplace, scale
from consent_hub.counts.repository import CountRepository
from consent_hub.crypto.blind_index import AUDIENCE_NOISE
from consent_hub.errors import PrivacyBudgetExhausted

MIN_COHORT = 10
BELOW = f"<{MIN_COHORT}"
MICRO = 1_000_000


@dataclass(frozen=True)
class Shown:
    figures: dict[str, int | str]
    fresh: int  # figures drawn (and paid for) by this question
    epsilon_spent: float  # by this question
    budget_left: float  # of the house's budget for the month


def shown_value(noisy: int) -> int | str:
    return BELOW if noisy < MIN_COHORT else noisy


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


class ProtectedCounts:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.repo = CountRepository(uow.session)
        config = uow.rt.settings.cluster(uow.cluster)
        self.epsilon = config.count_epsilon
        self.budget = config.count_budget

    def protection(self) -> str:
        return (
            f"discrete Laplace noise, epsilon {self.epsilon:g} per figure (standard deviation about "
            f"{scale(self.epsilon):.1f}), shown as {BELOW!r} when the noisy figure is below {MIN_COHORT}; "
            f"the same question the same day gets the same answer; each house may draw {self.budget:g} "
            f"epsilon of fresh figures per calendar month (docs/count-privacy.md)"
        )

    def _question_key(self, question: str, cell: str) -> str:
        return self.uow.rt.indexer.index(AUDIENCE_NOISE, f"{question}|{cell}").hex()

    def show(self, house: str, question: str, truths: dict[str, int]) -> Shown:
        """The protected figures of ``truths`` (cell -> true count) for ``question`` (a text that
        names the role, the purpose and the canonical definition)."""
        now = utcnow()
        day, month = now.date(), now.strftime("%Y-%m")
        keys = {cell: self._question_key(question, cell) for cell in truths}
        stored = self.repo.answers(house, list(keys.values()), day)
        fresh = [cell for cell, key in keys.items() if key not in stored]
        limit = round(self.budget * MICRO)
        cost = len(fresh) * round(self.epsilon * MICRO)
        if fresh:
            if self.repo.open_period(house, month, now):
                self.repo.forget_answers_before(day)  # a new month: earlier days' answers are never shown again
            if not self.repo.spend(house, month, cost, limit, now):
                renews = _next_month(day)
                raise PrivacyBudgetExhausted(
                    f"house {house!r} has spent its privacy budget for {month} ({self.budget:g} epsilon; "
                    f"this question needs {len(fresh)} fresh figures); fresh figures again from "
                    f"{renews.isoformat()} (UTC); figures already shown today are repeated",
                    retry_after=int((dt.datetime.combine(renews, dt.time(), dt.UTC) - now).total_seconds()) + 1,
                )
            noisy = {keys[cell]: truths[cell] + discrete_laplace(self.epsilon) for cell in fresh}
            self.repo.keep_answers(house, noisy, day, now)
            # read back: a concurrent request may have stored its answer first, and that one stands
            stored = self.repo.answers(house, list(keys.values()), day)
        left = (limit - self.repo.spent(house, month)) / MICRO
        figures = {cell: shown_value(stored[key]) for cell, key in keys.items()}
        return Shown(figures, len(fresh), cost / MICRO, left)
