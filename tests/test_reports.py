"""The Excel reports (issue 15): each builds with a frozen header, an auto filter, "(UTC)" headers
and naive UTC datetimes; no cell is ever a formula; the register's overdue rule and the coverage
charts are there; a house DPO's report holds their house only; every creation is an audit entry;
the figures equal the API's and the services'; every report opens in LibreOffice."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import shutil
import subprocess
import uuid
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner

from consent_hub import roles
from consent_hub.actors import Actor
from consent_hub.audit.schemas import AuditFilter
from consent_hub.audit.service import AuditLog, AuditRecord
from consent_hub.consent.service import ConsentService
from consent_hub.errors import Forbidden
from consent_hub.houses.service import HouseService
from consent_hub.plugins import report_names, report_writer
from consent_hub.reporting.filters import ReportFilters
from consent_hub.requests.service import RequestsService
from consent_hub.storage.models import DataSubjectRequest, DataSubjectRequestPart, OutboxDelivery
from reports.cli import period
from reports.workbook import UTC_SUFFIX, Column, ReportBook
from tests.conftest import Hub, auth
from tests.factories import add_newsletter_audience, create_person, record_consent

NORTH, SOUTH = "opera-noord", "theater-zuid"
REPORTS = ("access-log", "consent-coverage", "request-register", "records-of-processing", "propagation")
PRINTABLE_INJECTIONS = ('=HYPERLINK("http://evil.example.org","click")', "@SUM(1)", "+1+1", "-2+3")
INJECTIONS = (*PRINTABLE_INJECTIONS, "\tcmd", "\rcmd")
NOW = dt.datetime.now(dt.UTC)


@dataclass
class Desk:
    hub: Hub
    people: list[uuid.UUID]
    north_staff: Actor
    south_staff: Actor


def _staff(house: str) -> Actor:
    return Actor(id=f"client:{uuid.uuid4()}", cluster="alpha", role=roles.BOX_OFFICE, house=house)


def _request(reference: str, person: uuid.UUID, house: str | None, *, received: dt.datetime, **more: Any) -> Any:
    return DataSubjectRequest(
        id=uuid.uuid4(),
        reference=reference,
        person_id=person,
        kind=more.pop("kind", "access"),
        status=more.pop("status", "received"),
        channel=more.pop("channel", "web"),
        house=house,
        received_at=received,
        due_at=received + dt.timedelta(days=30),
        created_by="test:operator",
        time_zone="Europe/Brussels",
        **more,
    )


@pytest.fixture
def desk(hub: Hub) -> Desk:
    """Two houses; people with consents at each; accesses by each house's staff; requests; deliveries."""
    with hub.uow() as uow:
        ConsentService(uow).sync_notices(hub.actor())
    hub.add_house(NORTH)
    hub.add_house(SOUTH)
    add_newsletter_audience(hub, "noord-news", house=NORTH)
    add_newsletter_audience(hub, "zuid-news", house=SOUTH)
    people = [create_person(hub, email=f"koper.{i}@example.org", given_name=f"Koper{i}") for i in range(6)]
    record_consent(hub, people[0], target=NORTH)
    record_consent(hub, people[1], target=NORTH)
    record_consent(hub, people[2], target=NORTH, status="refused")
    record_consent(hub, people[1], target=SOUTH)
    record_consent(hub, people[1], target=SOUTH, status="withdrawn")
    record_consent(
        hub,
        people[3],
        target=NORTH,
        given_at=(NOW - dt.timedelta(days=400)).isoformat(),
        expires_at=(NOW - dt.timedelta(days=5)).isoformat(),
    )
    record_consent(hub, people[4], purpose="cluster-marketing", target=None)
    north, south = _staff(NORTH), _staff(SOUTH)
    with hub.uow() as uow:
        log = AuditLog(uow.session, uow.cluster)
        log.append(north, AuditRecord("person.read", [people[0], people[1]], ["contact"], purpose="ticketing-service"))
        log.append(north, AuditRecord("person.lookup", [people[0]], ["contact"], purpose="ticketing-service"))
        log.append(south, AuditRecord("person.read", [people[1]], ["contact", "identity"], purpose="newsletter"))
        uow.session.add_all(
            [
                _request("DSR-TEST-0001", people[0], NORTH, received=NOW - dt.timedelta(days=40)),  # overdue, open
                _request(
                    "DSR-TEST-0002",
                    people[1],
                    None,
                    received=NOW - dt.timedelta(days=40),
                    kind="erasure",
                    extended_due_at=NOW + dt.timedelta(days=20),
                    extension_reason="two houses hold data",
                ),
                _request(
                    "DSR-TEST-0003",
                    people[2],
                    SOUTH,
                    received=NOW - dt.timedelta(days=10),
                    status="done",
                    closed_at=NOW - dt.timedelta(days=2),
                ),
            ]
        )
        uow.session.flush()
        by_ref = {r.reference: r.id for r in uow.session.query(DataSubjectRequest)}
        uow.session.add_all(
            [
                DataSubjectRequestPart(request_id=by_ref["DSR-TEST-0001"], house=NORTH, status="open"),
                DataSubjectRequestPart(request_id=by_ref["DSR-TEST-0002"], house=NORTH, status="signed-off"),
                DataSubjectRequestPart(request_id=by_ref["DSR-TEST-0002"], house=SOUTH, status="open"),
                DataSubjectRequestPart(request_id=by_ref["DSR-TEST-0003"], house=SOUTH, status="signed-off"),
            ]
        )
        # deliveries: the consents enqueued upserts; make some delivered, one dead after retries
        deliveries = uow.session.query(OutboxDelivery).order_by(OutboxDelivery.created_at).all()
        for i, d in enumerate(deliveries):
            if d.destination == "noord-news" and i % 2 == 0:
                d.status, d.attempts, d.delivered_at = "delivered", 1, d.created_at + dt.timedelta(seconds=2 + i)
            elif d.destination == "zuid-news" and d.status == "pending":
                d.status, d.attempts, d.last_error = "dead", 4, "HTTP 503"
                break
    return Desk(hub, people, north, south)


def build(hub: Hub, name: str, actor: Actor | None = None, filters: ReportFilters | None = None) -> tuple[int, bytes]:
    out = io.BytesIO()
    with hub.uow() as uow:
        rows = report_writer(name)(uow, actor or hub.actor(), filters or ReportFilters(), out)
    return rows, out.getvalue()


def book(data: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(data))


def table(ws: Any) -> list[list[Any]]:
    return [list(r) for r in ws.iter_rows(values_only=True)]


def last_entry(hub: Hub) -> tuple[str, str, dict[str, Any], list[str]]:
    actor, action, detail, subjects = hub.sql(
        "SELECT actor, action, detail, subjects FROM audit_entries ORDER BY seq DESC LIMIT 1"
    )[0]
    return actor, action, json.loads(detail), json.loads(subjects)


def test_the_five_reports_are_installed() -> None:
    assert set(REPORTS) <= set(report_names())


def test_every_report_builds_with_frozen_header_filter_utc_headers_and_an_audit_entry(desk: Desk) -> None:
    hub = desk.hub
    for name in REPORTS:
        rows, data = build(hub, name)
        wb = book(data)
        ws = wb.worksheets[0]
        header = [c.value for c in ws[1]]
        assert ws.freeze_panes == "A2", name
        assert ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(header))}{ws.max_row}", name
        assert all(ws.column_dimensions[openpyxl.utils.get_column_letter(i)].width for i in range(1, len(header) + 1))
        assert ws.max_row == rows + 1 and rows > 0, name
        for sheet in wb.worksheets[:-1]:  # every table; the last is the About sheet
            width = openpyxl.utils.get_column_letter(sheet.max_column)
            assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:{width}{sheet.max_row}", sheet.title
        assert wb.sheetnames[-1] == "About"
        assert all(c.font.bold for c in ws[1])
        for row in ws.iter_rows(min_row=2, values_only=True):
            for head, value in zip(header, row, strict=True):
                if isinstance(value, dt.datetime):
                    assert value.tzinfo is None and head.endswith(UTC_SUFFIX), (name, head)
        assert any(h.endswith(UTC_SUFFIX) for h in header) or name in ("consent-coverage", "records-of-processing")
        about = {r[0]: r[1] for r in table(wb["About"])[1:] if r[0]}
        assert about["cluster"] == "alpha" and about["created by"] == "test:operator" and about["rows"] == rows
        assert isinstance(about["created at" + UTC_SUFFIX], dt.datetime)
        actor, action, detail, _ = last_entry(hub)
        assert (actor, action) == ("test:operator", "report.create")
        assert detail == {"report": name, "filters": {}, "rows": rows}


def test_a_report_holds_no_personal_value(desk: Desk) -> None:
    for name in REPORTS:
        _, data = build(desk.hub, name)
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            text = "".join(z.read(n).decode() for n in z.namelist())
        assert "example.org" not in text and "Koper" not in text, name


def test_formula_like_strings_come_out_as_text(desk: Desk, tmp_path: Path) -> None:
    hub = desk.hub
    with hub.uow() as uow:
        for i, evil in enumerate(PRINTABLE_INJECTIONS):  # a house name refuses control characters
            HouseService(uow).add(hub.actor(), {"slug": f"evil-{i}", "name": evil})
        log = AuditLog(uow.session, uow.cluster)
        for evil in INJECTIONS:
            log.append(Actor(id=evil, cluster="alpha", role="box-office", house=NORTH), AuditRecord("x", purpose=evil))
        uow.session.add(
            _request("DSR-TEST-0009", desk.people[0], NORTH, received=NOW, extension_reason=INJECTIONS[0])
        )
    _, access = build(hub, "access-log", filters=ReportFilters(audit=AuditFilter(action="x")))
    _, rop = build(hub, "records-of-processing")
    _, register = build(hub, "request-register")
    checked = 0
    for data, sheet, column in ((access, 0, 2), (access, 0, 5), (rop, 1, 1), (register, 0, 13)):
        ws = book(data).worksheets[sheet]
        for row in ws.iter_rows(min_row=2):
            cell = row[column]
            # XML reads a bare CR back as LF: "\rcmd" returns as "\ncmd", still text
            if isinstance(cell.value, str) and cell.value.replace("\n", "\r") in INJECTIONS:
                assert cell.data_type == "s" and cell.quotePrefix, cell.value
                checked += 1
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            assert not any("<f>" in z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/"))
    assert checked == 2 * len(INJECTIONS) + len(PRINTABLE_INJECTIONS) + 1
    # LibreOffice shows the text itself, never a computed value
    path = tmp_path / "access.xlsx"
    path.write_bytes(access)
    cells = {v for row in libreoffice_csv([path], tmp_path)[path.stem] for v in row}
    assert {"@SUM(1)", "+1+1", "-2+3", INJECTIONS[0]} <= cells


def test_the_writer_stores_every_formula_prefix_as_text_in_any_column() -> None:
    wb_out = ReportBook("t")
    sheet = wb_out.sheet("T", (Column("text"), Column("count", 10, "int"), Column("at", 20, "datetime")))
    for evil in INJECTIONS:
        sheet.append((evil, evil, None))
    sheet.append(("plain", 3, dt.datetime(2026, 12, 4, 21, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))))
    out = io.BytesIO()
    wb_out.save(out)
    ws = book(out.getvalue())["T"]
    cells = [c for row in ws.iter_rows(min_row=2, max_row=len(INJECTIONS) + 1) for c in row[:2]]
    assert all(c.data_type == "s" and c.quotePrefix for c in cells)
    assert [c.value.replace("\n", "\r") for c in cells] == [e for e in INJECTIONS for _ in (0, 1)]
    last = [c.value for c in ws[len(INJECTIONS) + 2]]
    assert last == ["plain", 3, dt.datetime(2026, 12, 4, 20, 0)]  # the UTC wall time, no zone
    assert ws["C1"].value == "at" + UTC_SUFFIX


def test_the_register_highlights_overdue_rows_by_a_conditional_formatting_rule(desk: Desk) -> None:
    rows, data = build(desk.hub, "request-register")
    ws = book(data).worksheets[0]
    header = [c.value for c in ws[1]]
    due = openpyxl.utils.get_column_letter(header.index("effective due" + UTC_SUFFIX) + 1)
    closed = openpyxl.utils.get_column_letter(header.index("closed" + UTC_SUFFIX) + 1)
    (rng,) = list(ws.conditional_formatting)
    assert str(rng.sqref) == f"A2:{openpyxl.utils.get_column_letter(len(header))}{rows + 1}"
    (rule,) = rng.rules
    assert rule.type == "expression" and rule.dxf.fill is not None
    assert rule.formula == [f"AND(ISNUMBER(${due}2),IF(ISNUMBER(${closed}2),${closed}2>${due}2,NOW()>${due}2))"]
    # no static fill: the rule alone marks the rows
    assert all(c.fill.fgColor.rgb in (None, "00000000") for row in ws.iter_rows(min_row=2) for c in row)
    lines = {r[0]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)}
    assert lines["DSR-TEST-0002"]["effective due" + UTC_SUFFIX] == lines["DSR-TEST-0002"]["extended to" + UTC_SUFFIX]
    assert lines["DSR-TEST-0002"]["controller houses"] == f"{NORTH} (signed-off), {SOUTH} (open)"
    # what the rule computes, evaluated here for today's date: only the open one past its month
    overdue = {
        ref
        for ref, line in lines.items()
        if (line["closed" + UTC_SUFFIX] or NOW.replace(tzinfo=None)) > line["effective due" + UTC_SUFFIX]
    }
    assert overdue == {"DSR-TEST-0001"}


def test_the_register_equals_the_request_desk_over_http(desk: Desk, api: Any) -> None:
    hub = desk.hub
    with hub.uow() as uow:  # one registered as the desk registers it, received by mail today
        RequestsService(uow).register(
            hub.actor(), kind="access", channel="mail", person_id=desk.people[0], mail_receipt=False
        )
    for role, house in ((roles.CLUSTER_DPO, None), (roles.HOUSE_DPO, NORTH), (roles.HOUSE_DPO, SOUTH)):
        key = hub.issue_key(role, house=house)
        listed = api.get("/v1/requests", params={"include_closed": "true", "limit": 500}, headers=auth(key)).json()
        dpo = Actor(id="client:dpo", cluster="alpha", role=role, house=house)
        _, data = build(hub, "request-register", dpo)
        ws = book(data).worksheets[0]
        header = [c.value for c in ws[1]]
        lines = {r[0]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)}
        assert set(lines) == {r["reference"] for r in listed}, (role, house)
        for r in listed:
            line = lines[r["reference"]]
            assert (line["kind"], line["status"], line["person id"]) == (r["kind"], r["status"], r["person_id"])
            due = dt.datetime.fromisoformat(r["effective_due_at"]).astimezone(dt.UTC).replace(tzinfo=None)
            assert abs(line["effective due" + UTC_SUFFIX] - due) < dt.timedelta(milliseconds=1)


def test_coverage_has_native_charts(desk: Desk) -> None:
    _, data = build(desk.hub, "consent-coverage")
    wb = book(data)
    bar = wb["Coverage"]._charts
    line = wb["Per month"]._charts
    assert [type(c).__name__ for c in bar] == ["BarChart"] and [type(c).__name__ for c in line] == ["LineChart"]
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert sum(n.startswith("xl/charts/chart") for n in z.namelist()) == 2


def test_coverage_counts_equal_the_consent_states_read_through_the_service(desk: Desk) -> None:
    hub = desk.hub
    expected: Counter[tuple[str, str, str, str]] = Counter()
    with hub.uow() as uow:
        for person in desk.people:
            for view in ConsentService(uow).current(hub.actor(), person):
                s = view.state
                expected[(s.target_kind, s.target_ref, s.purpose, view.effective_status)] += 1
    _, data = build(hub, "consent-coverage")
    ws = book(data)["Coverage"]
    got: Counter[tuple[str, str, str, str]] = Counter()
    for kind, target, purpose, *counts, total in ws.iter_rows(min_row=2, values_only=True):
        assert sum(counts) == total
        for status, n in zip(("granted", "refused", "withdrawn", "expired"), counts, strict=True):
            if n:
                got[(kind, target, purpose, status)] = n
    assert got == expected
    assert expected[("house", NORTH, "newsletter", "expired")] == 1
    months = table(book(data)["Per month"])[1:]
    assert sum(sum(r[1:]) for r in months) == 7  # every consent event, by the month it was given


def test_access_log_rows_for_a_person_equal_the_api_entries(desk: Desk, api: Any) -> None:
    hub = desk.hub
    person = desk.people[1]
    key = hub.issue_key(roles.CLUSTER_DPO)
    entries = api.get("/v1/audit/entries", params={"person": str(person), "limit": 500}, headers=auth(key)).json()
    rows, data = build(hub, "access-log", filters=ReportFilters(audit=AuditFilter(person=person)))
    lines = table(book(data).worksheets[0])[1:]
    assert {line[7] for line in lines} == {str(person)} and len(lines) == rows
    report_seqs = {line[0] for line in lines}
    api_seqs = {e["seq"] for e in entries}
    # the report also holds the API's own read of those entries, which came after it
    (extra,) = report_seqs - api_seqs
    assert api_seqs <= report_seqs and lines[-1][0] == extra and lines[-1][6] == "audit.read"
    _, action, detail, subjects = last_entry(hub)
    assert action == "report.create" and subjects == [str(person)] and detail["filters"] == {"person": str(person)}


def test_access_log_expands_an_entry_per_person(desk: Desk) -> None:
    flt = ReportFilters(audit=AuditFilter(action="person.read"))
    _, data = build(desk.hub, "access-log", filters=flt)
    lines = table(book(data).worksheets[0])[1:]
    assert sorted((line[3], line[7]) for line in lines) == sorted(
        [(NORTH, str(desk.people[0])), (NORTH, str(desk.people[1])), (SOUTH, str(desk.people[1]))]
    )


def test_a_house_dpo_report_holds_only_their_house(desk: Desk) -> None:
    hub = desk.hub
    dpo = Actor(id=f"client:{uuid.uuid4()}", cluster="alpha", role=roles.HOUSE_DPO, house=NORTH)
    asked_for_the_other = ReportFilters(house=SOUTH, audit=AuditFilter(house=SOUTH))
    for filters in (ReportFilters(), asked_for_the_other):
        _, access = build(hub, "access-log", dpo, filters)
        assert {line[3] for line in table(book(access).worksheets[0])[1:]} == {NORTH}
        _, coverage = build(hub, "consent-coverage", dpo, filters)
        assert {line[1] for line in table(book(coverage).worksheets[0])[1:]} == {NORTH}
        _, register = build(hub, "request-register", dpo, filters)
        assert {line[0] for line in table(book(register).worksheets[0])[1:]} == {"DSR-TEST-0001", "DSR-TEST-0002"}
        _, propagation = build(hub, "propagation", dpo, filters)
        assert [line[0] for line in table(book(propagation).worksheets[0])[1:]] == ["noord-news"]
        _, rop = build(hub, "records-of-processing", dpo, filters)
        assert [line[0] for line in table(book(rop)["Houses"])[1:]] == [NORTH]
        destinations = [line[1] for line in table(book(rop)["Sources and destinations"])[1:]]
        assert destinations == ["noord-news"]
        _, action, detail, _ = last_entry(hub)
        assert action == "report.create" and detail["filters"] == {"house": NORTH}


def test_only_dpos_and_the_operator_create_reports(desk: Desk) -> None:
    for role in (roles.BOX_OFFICE, roles.MARKETER, roles.CLUSTER_ADMIN, roles.CLUSTER_SERVICE):
        for name in REPORTS:
            with pytest.raises(Forbidden):
                build(desk.hub, name, Actor(id="client:x", cluster="alpha", role=role, house=NORTH))
    dpo = Actor(id="client:dpo", cluster="alpha", role=roles.CLUSTER_DPO)
    assert build(desk.hub, "access-log", dpo)[0] > 0


def test_propagation_equals_the_outbox_api(desk: Desk, api: Any) -> None:
    hub = desk.hub
    key = hub.issue_key(roles.CLUSTER_DPO)
    _, data = build(hub, "propagation")
    ws = book(data).worksheets[0]
    header = [c.value for c in ws[1]]
    lines = {r[0]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)}
    assert set(lines) == {"noord-news", "zuid-news"}
    for destination, line in lines.items():
        listed = {
            status: len(
                api.get(
                    "/v1/outbox", params={"status": status, "destination": destination, "limit": 500}, headers=auth(key)
                ).json()
            )
            for status in ("pending", "delivered", "dead", "superseded")
        }
        assert (line["pending"], line["delivered"], line["dead letters"], line["superseded"]) == (
            listed["pending"],
            listed["delivered"],
            listed["dead"],
            listed["superseded"],
        )
        assert line["deliveries"] == sum(listed.values())
    assert lines["zuid-news"]["dead letters"] == 1 and lines["zuid-news"]["failed at least once"] == 1
    assert lines["noord-news"]["delivered"] >= 1 and lines["noord-news"]["median seconds to deliver"] >= 2


def test_an_access_log_longer_than_a_sheet_goes_on_over_further_sheets(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, whole = build(desk.hub, "access-log")
    expected = table(book(whole).worksheets[0])
    monkeypatch.setattr("reports.workbook.ROWS_PER_SHEET", 4)
    rows, data = build(desk.hub, "access-log")
    wb = book(data)
    sheets = wb.worksheets[:-1]
    assert [s.title for s in sheets] == ["Access log", *(f"Access log ({i})" for i in range(2, len(sheets) + 1))]
    assert all(s.max_row <= 5 and s.freeze_panes == "A2" and s.auto_filter.ref for s in sheets)
    assert all(table(s)[0] == expected[0] for s in sheets)
    got = [row for s in sheets for row in table(s)[1:]]
    assert rows == len(got) == len(expected) and got[:-1] == expected[1:]  # the last: the first report's entry


def test_the_period_filter_narrows_the_access_log(desk: Desk) -> None:
    future = ReportFilters(start=NOW + dt.timedelta(days=1), end=NOW + dt.timedelta(days=2))
    assert build(desk.hub, "access-log", filters=future)[0] == 0
    _, action, detail, _ = last_entry(desk.hub)
    assert action == "report.create" and set(detail["filters"]) == {"start", "end"} and detail["rows"] == 0


# -- LibreOffice -------------------------------------------------------------------------------
def libreoffice_convert(files: list[Path], workdir: Path, target: str, suffix: str) -> dict[str, Path]:
    """Each workbook converted by LibreOffice headless (exit 0 and a file for each, or the test fails)."""
    soffice = shutil.which("soffice")
    if soffice is None:
        if os.environ.get("CONSENT_HUB_REQUIRE_BROWSER") == "1":
            pytest.fail("CONSENT_HUB_REQUIRE_BROWSER=1 but soffice is missing (apt-get install libreoffice-calc-nogui)")
        pytest.skip("LibreOffice test: soffice is not installed (apt-get install libreoffice-calc-nogui)")
    outdir = workdir / "converted"
    profile = workdir / "lo-profile"  # one profile per test: parallel runs never share a lock
    done = subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--norestore",
            "--convert-to",
            target,
            "--outdir",
            str(outdir),
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    out = {}
    for f in files:
        produced = outdir / f"{f.stem}.{suffix}"
        assert produced.exists(), (f.name, done.stdout, done.stderr)
        out[f.stem] = produced
    return out


def libreoffice_csv(files: list[Path], workdir: Path) -> dict[str, list[list[str]]]:
    """The first sheet of each workbook as LibreOffice exports it to CSV (UTF-8)."""
    out = {}
    utf8_csv = "csv:Text - txt - csv (StarCalc):44,34,76,1"
    for stem, produced in libreoffice_convert(files, workdir, utf8_csv, "csv").items():
        with produced.open(encoding="utf-8", newline="") as fh:
            out[stem] = list(csv.reader(fh))
    return out


def _as_shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _same(shown: str, value: Any) -> bool:
    if isinstance(value, float) and not isinstance(value, bool):
        return abs(float(shown) - value) < 1e-6
    return shown == _as_shown(value)


def test_every_report_opens_in_libreoffice_with_the_same_cells(desk: Desk, tmp_path: Path) -> None:
    files = []
    for name in REPORTS:
        _, data = build(desk.hub, name)
        path = tmp_path / f"{name}.xlsx"
        path.write_bytes(data)
        files.append(path)
    exported = libreoffice_csv(files, tmp_path)
    for path in files:
        expected = table(book(path.read_bytes()).worksheets[0])
        got = exported[path.stem]
        assert len(got) == len(expected), path.stem
        for want_row, got_row in zip(expected, got, strict=True):
            want = list(want_row)
            while want and want[-1] is None:  # CSV rows end at their last value
                want.pop()
            assert len(got_row) >= len(want) and all(
                _same(shown, value) for shown, value in zip(got_row, want, strict=False)
            ), (path.stem, got_row, want)


def test_libreoffice_highlights_exactly_the_overdue_requests(desk: Desk, tmp_path: Path) -> None:
    """The rule as LibreOffice evaluates it (its HTML export paints the cells the rule matched)."""
    _, data = build(desk.hub, "request-register")
    path = tmp_path / "register.xlsx"
    path.write_bytes(data)
    html = libreoffice_convert([path], tmp_path, "html", "html")["register"].read_text("utf-8", errors="replace")
    painted = {
        ref
        for row in re.findall(r"<tr.*?</tr>", html, re.S)
        for ref in re.findall(r"DSR-TEST-\d{4}", row)
        if 'bgcolor="#FFC7CE"' in row
    }
    assert painted == {"DSR-TEST-0001"}


# -- the command -------------------------------------------------------------------------------
def test_dates_are_days_of_the_cluster_time_zone() -> None:
    from zoneinfo import ZoneInfo

    brussels = ZoneInfo("Europe/Brussels")
    # the night clocks moved forward: a day of 23 hours
    assert period("2026-03-29", "2026-03-29", brussels) == (
        dt.datetime(2026, 3, 28, 23, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 29, 22, tzinfo=dt.UTC),
    )
    assert period(None, "2026-12-31", brussels) == (None, dt.datetime(2026, 12, 31, 23, tzinfo=dt.UTC))


@pytest.fixture
def cli(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Any:
    from consent_hub.cli import _add_extra_commands, app

    monkeypatch.setenv("CONSENT_HUB_CONFIG", str(hub.dir / "hub.toml"))
    if not any(c.name == "report" for c in app.registered_commands):
        _add_extra_commands()
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_the_report_command(desk: Desk, cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "register.xlsx"
    done = cli("report", "request-register", "-c", "alpha", "--house", NORTH, "--from", "2020-01-01", "--out", str(out))
    assert done.exit_code == 0, done.output
    assert "rows written to register.xlsx" in done.output and "DSR" not in done.output
    assert {r[0] for r in table(book(out.read_bytes()).worksheets[0])[1:]} == {"DSR-TEST-0001", "DSR-TEST-0002"}
    entry = desk.hub.sql(
        "SELECT actor, role, detail FROM audit_entries WHERE action = 'report.create' ORDER BY seq DESC LIMIT 1"
    )[0]
    assert entry[0].startswith("cli:") and entry[1] == roles.CLUSTER_OPERATOR
    assert json.loads(entry[2])["filters"] == {"house": NORTH, "start": "2019-12-31T23:00:00+00:00"}
    assert list(tmp_path.glob("*.part")) == []


def test_the_report_command_filters_the_access_log(desk: Desk, cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "access.xlsx"
    today = dt.datetime.now(dt.UTC).astimezone(desk.hub.settings.cluster("alpha").zone()).date().isoformat()
    person = str(desk.people[1])
    args = ["--person", person, "--action", "person.read", "--from", today, "--to", today]
    done = cli("report", "access-log", "-c", "alpha", *args, "--out", str(out))
    assert done.exit_code == 0, done.output
    lines = table(book(out.read_bytes()).worksheets[0])[1:]
    assert sorted(line[3] for line in lines) == [NORTH, SOUTH] and {line[7] for line in lines} == {person}
    assert person not in done.output


@pytest.mark.parametrize(
    "args, problem",
    [
        (["report", "no-such-report"], "unknown report"),
        (["report", "access-log", "--from", "04/12/2026"], "YYYY-MM-DD"),
        (["report", "access-log", "--from", "2026-12-04", "--to", "2026-12-01"], "before --from"),
        (["report", "access-log", "--person", "someone"], "UUID"),
        (["report", "access-log", "--house", "nowhere"], "HouseNotFound"),
    ],
)
def test_the_report_command_refuses_clearly(
    desk: Desk, cli: Any, tmp_path: Path, args: list[str], problem: str
) -> None:
    out = tmp_path / "r.xlsx"
    done = cli(*args, "-c", "alpha", "--out", str(out))
    assert done.exit_code != 0 and problem in done.output, done.output
    assert not out.exists() and list(tmp_path.glob("*.part")) == []
