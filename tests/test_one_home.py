"""The clock, ids and plug-in loading each have one home in consent_hub (issue 12): a call to the
underlying library anywhere else is a second way to do it, and this test fails on it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "consent_hub"

# (what is called, the one module allowed to call it)
HOMES = [
    ("datetime.now", "clock.py"),
    ("datetime.utcnow", "clock.py"),
    ("uuid4", "crypto/randomness.py"),
    ("entry_points", "plugins.py"),
]


def _calls(tree: ast.AST) -> set[str]:
    """Dotted tails of every name called or referenced as an attribute (``dt.datetime.now`` gives
    ``datetime.now``; a bare ``uuid4`` reference, as in a column default, counts too)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            base = node.value
            owner = base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else ""
            found.add(f"{owner}.{node.attr}")
            found.add(node.attr)
        elif isinstance(node, ast.Name):
            found.add(node.id)
    return found


@pytest.mark.parametrize(("call", "home"), HOMES)
def test_only_its_home_calls_it(call: str, home: str) -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == home or relative.startswith("storage/migrations/"):
            continue
        if call in _calls(ast.parse(path.read_text("utf-8"))):
            offenders.append(relative)
    assert offenders == [], f"{call} outside consent_hub/{home}: {offenders}"


def test_the_scan_sees_a_call() -> None:
    assert "datetime.now" in _calls(ast.parse("import datetime as dt\ndt.datetime.now(dt.UTC)"))
    assert "uuid4" in _calls(ast.parse("import uuid\nx = uuid.uuid4()"))
