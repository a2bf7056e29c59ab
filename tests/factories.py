"""Helpers that many test files need: people, consents with the current notice, and row counts.

Each writes through the hub's services as the cluster operator (``hub.actor()``), in its own unit of
work, exactly as the tests did when each file carried its own copy.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from consent_hub.config import DestinationConfig
from consent_hub.consent.catalogue import load_catalogue
from consent_hub.consent.service import ConsentService
from consent_hub.people.service import PeopleService
from tests.conftest import Hub

NOWHERE = "http://127.0.0.1:9"  # nothing listens there: a delivery to it fails


def notice_sha256(purpose: str = "newsletter", language: str = "nl") -> str:
    """The hash of the purpose's current notice text, which a consent must name."""
    return load_catalogue().get(purpose).texts[language].sha256


def consent_body(
    *, purpose: str = "newsletter", target: str | None, status: str = "granted", **extra: Any
) -> dict[str, Any]:
    """A consent given on the web in Dutch against the current notice (``extra`` adds or overrides fields)."""
    return {
        "purpose": purpose,
        "target": target,
        "status": status,
        "language": "nl",
        "channel": "web",
        "notice_sha256": notice_sha256(purpose),
        **extra,
    }


def record_consent(
    hub: Hub,
    person_id: uuid.UUID,
    *,
    purpose: str = "newsletter",
    target: str | None,
    status: str = "granted",
    **extra: Any,
) -> None:
    with hub.uow() as uow:
        ConsentService(uow).record(
            hub.actor(), person_id, consent_body(purpose=purpose, target=target, status=status, **extra)
        )


def create_person(hub: Hub, **fields: Any) -> uuid.UUID:
    """A person with exactly these fields (e.g. ``email=..., given_name=...``)."""
    with hub.uow() as uow:
        return PeopleService(uow).create(hub.actor(), fields)


def person_of_record(hub: Hub, external_id: str) -> uuid.UUID:
    """The person an engine's customer record (by its external id) was linked to."""
    rows = hub.sql("SELECT person_id FROM engine_customers WHERE external_id = :r", r=external_id)
    return uuid.UUID(str(rows[0][0]))


def row_count(hub: Hub, table: str, cluster: str = "alpha") -> int:
    return int(hub.sql(f"SELECT count(*) FROM {table}", cluster)[0][0])


def table_counts(hub: Hub) -> dict[str, int]:
    """Rows per table of the cluster database and (prefixed ``keys.``) its key store."""
    rt = hub.registry.runtime("alpha")
    out: dict[str, int] = {}
    for prefix, engine in (("", rt.engine), ("keys.", rt.key_engine)):
        with engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                out[prefix + table] = int(conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one())
    return out


def add_destination(
    hub: Hub, name: str, *, kind: str, base_url: str, purpose: str, no_backoff: bool = False, **settings: Any
) -> None:
    """Configure destination ``name`` of cluster alpha; ``no_backoff`` retries a failed delivery at once."""
    if no_backoff:
        settings = {"backoff_base_seconds": 0.0, "backoff_max_seconds": 0.0, **settings}
    hub.settings.clusters["alpha"].destinations[name] = DestinationConfig(
        kind=kind, base_url=base_url, purpose=purpose, **settings
    )


def add_newsletter_audience(
    hub: Hub,
    name: str,
    *,
    house: str,
    base_url: str = f"{NOWHERE}/3.0",
    list_id: str = "l",
    api_key: str = "k",
    **settings: Any,
) -> None:
    """A Mailchimp-shaped audience for the house's newsletter (by default at an address that answers nothing)."""
    add_destination(
        hub,
        name,
        kind="mailchimp",
        base_url=base_url,
        purpose="newsletter",
        house=house,
        list_id=list_id,
        api_key=api_key,
        **settings,
    )
