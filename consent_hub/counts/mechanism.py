"""The discrete Laplace (two-sided geometric) mechanism: integer noise with
P(k) proportional to exp(-epsilon * |k|), drawn from the operating system's CSPRNG.

A count changes by at most 1 when one person is added or removed, so a count plus this noise is
epsilon-differentially private. Integer noise leaves none of the gaps in the floating-point
Laplace distribution that let an observer tell some noisy values apart (Mironov 2012).
"""

from __future__ import annotations

import math
import secrets

_SYSTEM = secrets.SystemRandom()


def _geometric(epsilon: float) -> int:
    """Failures before the first success, success probability 1 - exp(-epsilon)."""
    u = 1.0 - _SYSTEM.random()  # in (0, 1]
    return math.floor(math.log(u) / -epsilon)


def discrete_laplace(epsilon: float) -> int:
    """The difference of two independent geometric draws is two-sided geometric."""
    return _geometric(epsilon) - _geometric(epsilon)


def scale(epsilon: float) -> float:
    """The standard deviation of the noise, for the people who read the figures."""
    alpha = math.exp(-epsilon)
    return math.sqrt(2 * alpha) / (1 - alpha)
