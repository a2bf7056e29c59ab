"""The participation export service: consenting people only, returns netted, pseudonyms per export."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from consent_hub.consent.service import ConsentService
from consent_hub.exchange.service import ParticipationService
from consent_hub.ingest.records import CustomerRecord, EventRecord, SaleLine
from consent_hub.ingest.service import IngestService
from tests.conftest import Hub
from tests.factories import notice_sha256

T0 = dt.datetime(2026, 5, 1, 20, 0, tzinfo=dt.UTC)


def test_returned_tickets_are_no_attendance_and_only_consenting_people_appear(hub: Hub) -> None:
    with hub.uow() as uow:
        ConsentService(uow).sync_notices(hub.actor())
    hub.add_house("leie")
    with hub.uow() as uow:
        ingest = IngestService(uow, hub.actor(), "tixly")
        ingest.upsert_events(
            [
                EventRecord("e1", "leie", "Returned show", T0, None, ["Dans"], T0),
                EventRecord("e2", "leie", "Attended show", T0 + dt.timedelta(days=7), None, ["Dans"], T0),
            ]
        )
        ingest.upsert_customers(
            [
                CustomerRecord(
                    "c1", {"email": "deelnemer@example.org", "birth_date": "1990-06-01", "postal_code": "8500"}, T0
                ),
                CustomerRecord("c2", {"email": "zwijger@example.org", "birth_date": "1980-01-01"}, T0),
            ]
        )
        ingest.record_sales(
            [
                SaleLine("s1", "c1", "leie", "e1", "o1", "Volw.", None, 2000, 2, "online", T0 - dt.timedelta(days=9)),
                SaleLine("s2", "c1", "leie", "e1", "o1", "Volw.", None, 2000, -2, "online", T0 - dt.timedelta(days=8)),
                SaleLine("s3", "c1", "leie", "e2", "o2", "Volw.", None, 2000, 1, "online", T0 - dt.timedelta(days=7)),
                SaleLine("s4", "c2", "leie", "e2", "o3", "Volw.", None, 2000, 1, "online", T0 - dt.timedelta(days=7)),
            ]
        )
    (c1,) = hub.sql("SELECT person_id FROM engine_customers WHERE external_id = 'c1'")[0]
    with hub.uow() as uow:
        ConsentService(uow).record(
            hub.actor(),
            uuid.UUID(str(c1)),
            {
                "purpose": "audience-research",
                "target": "uit-platform",
                "status": "granted",
                "language": "nl",
                "channel": "web",
                "notice_sha256": notice_sha256("audience-research"),
            },
        )
    with hub.uow() as uow:
        first = ParticipationService(uow).export(hub.actor())
    with hub.uow() as uow:
        second = ParticipationService(uow).export(hub.actor())
    (only,) = first.participants  # c2 never consented
    assert only.birth_year == 1990 and [a.event_title for a in only.attendances] == ["Attended show"]
    assert first.participants[0].pseudonym != second.participants[0].pseudonym
    assert str(c1) not in only.pseudonym and uuid.UUID(str(c1)).hex not in only.pseudonym


def test_uit_export_command_writes_turtle(hub: Hub, tmp_path: Any, monkeypatch: Any) -> None:
    from rdflib import Graph
    from typer.testing import CliRunner

    from consent_hub import cli

    test_returned_tickets_are_no_attendance_and_only_consenting_people_appear(hub)
    monkeypatch.setenv("CONSENT_HUB_CONFIG", str(hub.dir / "hub.toml"))
    cli._add_extra_commands()
    target = tmp_path / "participation.ttl"
    result = CliRunner().invoke(
        cli.app,
        ["uit-export", "--cluster", "alpha", "--base-iri", "https://data.example.org/hub/", "--out", str(target)],
    )
    assert result.exit_code == 0, result.output
    graph = Graph().parse(target, format="turtle")
    assert len(graph) > 10
    assert "deelnemer@example.org" not in target.read_text(encoding="utf-8")
