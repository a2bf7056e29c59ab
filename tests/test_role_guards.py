"""Authorisation by role lives in one place per domain: ``consent_hub/<domain>/auth.py`` and the
role sets in ``consent_hub/roles.py``. An inline ``actor.role in ...`` anywhere else fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from consent_hub import roles
from consent_hub.actors import Actor
from consent_hub.errors import Forbidden
from consent_hub.outbox.auth import require_delivery_reader

PACKAGE = Path(__file__).resolve().parent.parent / "consent_hub"
# the caller's role; a requested role (``spec.role`` of a new API key) is input validation
INLINE_CHECK = re.compile(r"\bactor\.role\s+(not\s+)?in\b")


def test_no_inline_role_check_outside_the_guards() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "auth.py" and path != PACKAGE / "roles.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if INLINE_CHECK.search(line)
    ]
    assert offenders == []


def test_role_sets_are_made_of_roles() -> None:
    members = {str(r) for r in roles.Role}
    for name in dir(roles):
        value = getattr(roles, name)
        if isinstance(value, frozenset):
            assert value <= members, name


def test_a_guard_refuses_with_the_role_named() -> None:
    marketer = Actor(id="test:marketer", cluster="alpha", role=roles.MARKETER, house="de-singel")
    with pytest.raises(Forbidden, match=r"^role 'marketer' may not read deliveries$"):
        require_delivery_reader(marketer)
