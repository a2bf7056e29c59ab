"""One status vocabulary (issue 12, point 2): the database refuses a status outside the enums of
``consent_hub/vocabulary.py``, its CHECK constraints list exactly their members, and no status is
written as a bare literal in the hub's code (outside the vocabulary and the migrations, which are
history)."""

from __future__ import annotations

import ast
import datetime as dt
import re
import typing
import uuid
from enum import StrEnum
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import IntegrityError

from consent_hub.consent.schemas import Status as ConsentStatusField
from consent_hub.outbox import endpoints as outbox_endpoints
from consent_hub.storage.db import make_engine
from consent_hub.storage.migrate import _config as migration_config
from consent_hub.storage.models import Base
from consent_hub.vocabulary import (
    ConsentStatus,
    DeliveryKind,
    DeliveryStatus,
    EffectiveConsentStatus,
    EngineCustomerStatus,
    PersonStatus,
    RequestChannel,
    RequestKind,
    RequestPartStatus,
    RequestStatus,
    SyncRunStatus,
)
from tests.conftest import Hub

PACKAGE = Path(__file__).resolve().parent.parent / "consent_hub"

CHECKED: dict[tuple[str, str], type[StrEnum]] = {
    ("people", "status"): PersonStatus,
    ("consent_events", "status"): ConsentStatus,
    ("consent_states", "status"): ConsentStatus,
    ("engine_customers", "status"): EngineCustomerStatus,
    ("sync_runs", "status"): SyncRunStatus,
    ("outbox", "status"): DeliveryStatus,
    ("outbox", "kind"): DeliveryKind,
    ("data_subject_requests", "kind"): RequestKind,
    ("data_subject_requests", "status"): RequestStatus,
    ("data_subject_requests", "channel"): RequestChannel,
    ("data_subject_request_parts", "status"): RequestPartStatus,
}

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


def _id(hub: Hub) -> str:
    """A row id as each backend stores a Uuid column."""
    value = uuid.uuid4()
    return str(value) if hub.backend == "postgresql" else value.hex


# one minimal row per checked column; ``:value`` is the value under test
INSERTS: dict[tuple[str, str], str] = {
    ("people", "status"): "INSERT INTO people (id, status, row_version, created_at, updated_at) "
    "VALUES (:id, :value, 1, :now, :now)",
    ("consent_events", "status"): "INSERT INTO consent_events (id, person_id, purpose, target_kind, target_ref, "
    "status, notice_id, notice_sha256, language, channel, given_at, recorded_at, actor) "
    "VALUES (:id, :id, 'newsletter', 'house', 'de-singel', :value, :notice, :sha, 'nl', 'web', :now, :now, 'test')",
    ("consent_states", "status"): "INSERT INTO consent_states (person_id, purpose, target_kind, target_ref, status, "
    "event_id, given_at) VALUES (:id, 'newsletter', 'house', 'de-singel', :value, :id, :now)",
    ("engine_customers", "status"): "INSERT INTO engine_customers (source, external_id, status, first_seen, "
    "last_seen) VALUES ('tixly-test', :id, :value, :now, :now)",
    ("sync_runs", "status"): "INSERT INTO sync_runs (id, connector, trigger, status, started_at, heartbeat_at, "
    "rows_read, rows_written, rows_skipped, errors, retries, detail) "
    "VALUES (:id, 'tixly-test', 'cli', :value, :now, :now, 0, 0, 0, 0, 0, '{}')",
    ("outbox", "status"): "INSERT INTO outbox (id, destination, kind, cause, payload, status, attempts, created_at, "
    "next_attempt_at) VALUES (:id, 'mailchimp-test', 'upsert', 'test', '{}', :value, 0, :now, :now)",
    ("outbox", "kind"): "INSERT INTO outbox (id, destination, kind, cause, payload, status, attempts, created_at, "
    "next_attempt_at) VALUES (:id, 'mailchimp-test', :value, 'test', '{}', 'pending', 0, :now, :now)",
    ("data_subject_requests", "kind"): "INSERT INTO data_subject_requests (id, reference, person_id, kind, status, "
    "channel, received_at, due_at, created_by) "
    "VALUES (:id, 'R-' || :value, :id, :value, 'received', 'web', :now, :now, 'test')",
    ("data_subject_requests", "status"): "INSERT INTO data_subject_requests (id, reference, person_id, kind, status, "
    "channel, received_at, due_at, created_by) "
    "VALUES (:id, 'R-' || :value, :id, 'erasure', :value, 'web', :now, :now, 'test')",
    ("data_subject_requests", "channel"): "INSERT INTO data_subject_requests (id, reference, person_id, kind, "
    "status, channel, received_at, due_at, created_by) "
    "VALUES (:id, 'R-' || :value, :id, 'erasure', 'received', :value, :now, :now, 'test')",
    ("data_subject_request_parts", "status"): "INSERT INTO data_subject_request_parts (request_id, house, status, "
    "note) VALUES (:request, :id, :value, '')",
}


def _notice(hub: Hub) -> dict[str, str]:
    notice, sha = _id(hub), "0" * 64
    hub.sql(
        "INSERT INTO notices (id, purpose, language, version, title, text, sha256, published_at) "
        "VALUES (:id, 'newsletter', 'nl', 1, 'Nieuwsbrief', 'Tekst', :sha, :now)",
        id=notice,
        sha=sha,
        now=NOW,
    )
    return {"notice": notice, "sha": sha}


@pytest.mark.parametrize("column", list(INSERTS), ids=lambda c: ".".join(c))
def test_the_database_refuses_an_unknown_status(hub: Hub, column: tuple[str, str]) -> None:
    extra = _notice(hub) if column[0] == "consent_events" else {}
    if column[0] == "data_subject_request_parts":  # a part belongs to a request
        extra = {"request": _id(hub)}
        hub.sql(INSERTS[("data_subject_requests", "kind")], id=extra["request"], value="access", now=NOW)
    known = next(iter(CHECKED[column]))
    hub.sql(INSERTS[column], id=_id(hub), value=str(known), now=NOW, **extra)  # the row itself is fine
    with pytest.raises(IntegrityError):
        hub.sql(INSERTS[column], id=_id(hub), value="approved", now=NOW, **extra)


def _allowed(sqltext: str) -> set[str]:
    return set(re.findall(r"'([^']*)'", sqltext))


def test_every_check_constraint_lists_the_enum_members(hub: Hub) -> None:
    engine = create_engine(hub.database_url())
    try:
        found = {
            (table, c["name"]): c["sqltext"]
            for table in inspect(engine).get_table_names()
            for c in inspect(engine).get_check_constraints(table)
            if c["name"] and c["name"].startswith(f"ck_{table}_")
        }
    finally:
        engine.dispose()
    expected = {(table, f"ck_{table}_{column}"): enum for (table, column), enum in CHECKED.items()}
    assert set(found) == set(expected)
    for key, enum in expected.items():
        assert _allowed(found[key]) == {str(m) for m in enum}, key


def test_the_models_declare_the_same_constraints() -> None:
    declared = {
        (table.name, str(c.name)): _allowed(str(c.sqltext))
        for table in Base.metadata.sorted_tables
        for c in table.constraints
        if c.__class__.__name__ == "CheckConstraint"
    }
    assert declared == {(t, f"ck_{t}_{c}"): {str(m) for m in enum} for (t, c), enum in CHECKED.items()}


def test_the_api_literals_are_the_enums() -> None:
    assert set(typing.get_args(ConsentStatusField)) == {str(m) for m in ConsentStatus}
    hint = typing.get_type_hints(outbox_endpoints.deliveries, include_extras=True)["status"]
    literal = next(a for a in typing.get_args(typing.get_args(hint)[0]) if typing.get_origin(a) is typing.Literal)
    assert set(typing.get_args(literal)) == {str(m) for m in DeliveryStatus}


# -- no bare status literal --------------------------------------------------------------------

# statuses only: a delivery kind's words are also a command's, a method's and a cause's ("erase")
STATUSES = (PersonStatus, EffectiveConsentStatus, DeliveryStatus, SyncRunStatus, EngineCustomerStatus)
VOCABULARY = {str(m) for enum in STATUSES for m in enum}
EXEMPT = (PACKAGE / "vocabulary.py", PACKAGE / "storage" / "migrations")


def _not_a_status(tree: ast.AST) -> set[int]:
    """Ids of the string constants that are names, not values: dict keys and subscripts (a
    report's counter ``{"restricted": n}``, ``Literal[...]`` of an API schema, checked above
    against the enums), the text of f-strings and docstrings."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        parts: list[ast.AST] = []
        if isinstance(node, ast.Dict):
            parts = [k for k in node.keys if k is not None]
        elif isinstance(node, ast.Subscript):
            parts = [node.slice]
        elif isinstance(node, ast.JoinedStr):
            parts = [node]
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            parts = [node.value]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Table":
            parts = list(node.args)  # rich table headers are labels
        for part in parts:
            skipped.update(id(n) for n in ast.walk(part))
    return skipped


def test_no_bare_status_literal_in_the_hub() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(path == e or e in path.parents for e in EXEMPT):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = _not_a_status(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
                quoted = set(re.findall(r"'([^']*)'", node.value)) if " " in node.value else {node.value}
                if quoted & VOCABULARY:
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value!r}")
    assert offenders == []


def test_the_migration_goes_down_and_up_again(hub: Hub) -> None:
    def triggers() -> list[str]:
        if hub.backend == "sqlite":
            rows = hub.sql("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
        else:
            rows = hub.sql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname")
        return [r[0] for r in rows]

    before = triggers()
    hub.registry.dispose()
    engine = make_engine(hub.database_url())
    try:
        for step, revision in ((command.downgrade, "0016"), (command.upgrade, "head")):
            with engine.begin() as conn:
                cfg = migration_config("main")
                cfg.attributes["connection"] = conn
                step(cfg, revision)
            if revision == "0016":
                found = [c for c in inspect(engine).get_check_constraints("people") if c["name"]]
                assert found == []
    finally:
        engine.dispose()
    assert triggers() == before
    test_every_check_constraint_lists_the_enum_members(hub)
