"""The rows of a box-office file turned into validated customer records (nothing is written here)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from connectors.files.boxoffice.cells import (
    BadCell,
    blank,
    cell_at,
    read_answer,
    read_date,
    read_moment,
    read_text,
)
from connectors.files.boxoffice.errors import FileImportError, MappingError
from connectors.files.boxoffice.mapping import IDENTIFYING, BoxOfficeMapping, OptInColumn, header_key
from connectors.files.boxoffice.reading import Sheet
from consent_hub.errors import InvalidInput
from consent_hub.ingest.records import CustomerRecord, EngineOptIn
from consent_hub.ingest.service import problem_text
from consent_hub.people.fields import email_index_form, validate_fields

EXTERNAL_ID_MAX = 64  # engine_customers.external_id
IDEMPOTENCY_KEY_MAX = 100  # consent_events.idempotency_key: "file:<house>:<external id>:<permission>:<time>"
_KEY_OVERHEAD = len("file:") + 3 + len("20240101T000000.000000")


@dataclass(frozen=True)
class Layout:
    """Where the mapped columns are in this file."""

    header_row: int
    person: dict[str, int]
    record_id: int | None
    optins: list[tuple[OptInColumn, int, int | None]]


def resolve_layout(sheet: Sheet, mapping: BoxOfficeMapping) -> tuple[Layout, list[tuple[int, list[Any]]]]:
    """Find the header row (the first row that is not empty) and the mapped columns in it."""
    for i, (number, cells) in enumerate(sheet.rows):
        if any(not blank(c) for c in cells):
            header_row, headers, data = number, cells, sheet.rows[i + 1 :]
            break
    else:
        raise FileImportError("the file is empty: no header row")
    positions: dict[str, list[int]] = {}
    for index, cell in enumerate(headers):
        if not blank(cell):
            positions.setdefault(header_key(cell), []).append(index)
    problems: list[dict[str, str]] = []

    def find(header: str, where: str) -> int:
        found = positions.get(header_key(header), [])
        if len(found) > 1:
            problems.append({"field": where, "problem": f"the header row holds column {header!r} more than once"})
        elif not found:
            problems.append({"field": where, "problem": f"the header row (row {header_row}) has no column {header!r}"})
        return found[0] if found else -1

    person = {name: find(header, f"mapping.columns.{name}") for name, header in mapping.columns.items()}
    record_id = find(mapping.record_id, "mapping.record_id") if mapping.record_id is not None else None
    optins = [
        (
            opt,
            find(opt.column, f"mapping.optins[{i}].column"),
            find(opt.decided_at, f"mapping.optins[{i}].decided_at") if opt.decided_at is not None else None,
        )
        for i, opt in enumerate(mapping.optins)
    ]
    if problems:
        filled = [c for c in headers if not blank(c)]
        if len(filled) == 1 and isinstance(filled[0], str) and any(sep in filled[0] for sep in ";,\t|"):
            problems.append(
                {"field": "mapping.delimiter", "problem": "the header row is one single column: check the delimiter"}
            )
        raise FileImportError(problems)
    return Layout(header_row, person, record_id, optins), data


@dataclass(frozen=True)
class BadRow:
    row: int  # as the spreadsheet shows it: the header is row 1 when it is the first row
    reason: str  # field or column names and the rule broken; never a value


@dataclass
class PreparedRow:
    row: int
    record: CustomerRecord
    email_index: str | None  # index form of the validated address, for duplicates in the file


@dataclass
class PreparedFile:
    rows: list[PreparedRow]
    bad: list[BadRow]
    read: int
    file_id: str


@dataclass(frozen=True)
class _RowReader:
    """What every row of one file is read against."""

    mapping: BoxOfficeMapping
    layout: Layout
    house: str
    file_id: str
    id_room: int  # longest record id that still fits the record's id and its opt-ins' idempotency keys
    zone: dt.tzinfo
    moment_formats: list[str]
    phone_region: str
    default_time: dt.datetime


@dataclass
class _SeenBefore:
    """Record ids and e-mail addresses of the rows read so far, and the row that had them first."""

    ids: dict[str, int] = field(default_factory=dict)
    emails: dict[str, int] = field(default_factory=dict)


def prepare_rows(
    sheet: Sheet,
    mapping: BoxOfficeMapping,
    house: str,
    *,
    phone_region: str,
    default_time: dt.datetime,
) -> PreparedFile:
    """Map and validate every row; nothing is written here."""
    layout, data = resolve_layout(sheet, mapping)
    file_id = mapping.name if mapping.record_id is not None else sheet.digest[:12]
    reader = _RowReader(
        mapping=mapping,
        layout=layout,
        house=house,
        file_id=file_id,
        id_room=_record_id_room(mapping, house, file_id),
        zone=zoneinfo.ZoneInfo(mapping.timezone),
        moment_formats=[f for f in (mapping.datetime_format, mapping.date_format) if f],
        phone_region=phone_region,
        default_time=default_time,
    )
    rows: list[PreparedRow] = []
    bad: list[BadRow] = []
    read = 0
    seen = _SeenBefore()
    for number, cells in data:
        if all(blank(c) for c in cells):
            continue  # empty rows (often formatted ones below the data) are not rows of the file
        read += 1
        outcome = _read_row(reader, number, cells, seen)
        if isinstance(outcome, BadRow):
            bad.append(outcome)
        else:
            rows.append(outcome)
    return PreparedFile(rows, bad, read, file_id)


def _record_id_room(mapping: BoxOfficeMapping, house: str, file_id: str) -> int:
    id_room = EXTERNAL_ID_MAX - len(file_id) - 1
    if mapping.optins:
        longest = max(len(o.permission) for o in mapping.optins)
        id_room = min(id_room, IDEMPOTENCY_KEY_MAX - _KEY_OVERHEAD - len(house) - len(file_id) - 1 - longest)
    if id_room < (4 if mapping.record_id is not None else 7):
        raise MappingError(
            [
                {
                    "field": "mapping.optins",
                    "problem": f"the opt-in column names leave no room for record ids of house {house!r}: "
                    "give each [[optins]] a short `key`",
                }
            ]
        )
    return id_room


def _read_row(reader: _RowReader, number: int, cells: list[Any], seen: _SeenBefore) -> PreparedRow | BadRow:
    """One row of the file: its record, or the rules it broke (problems in the order the checks run)."""
    problems: list[str] = []
    fields = _person_fields(reader, cells, problems)
    if not problems and not any(name in fields for name in IDENTIFYING):
        problems.append(f"no name, e-mail address or phone number in the mapped columns ({', '.join(IDENTIFYING)})")
    record_id = _record_id(reader, number, cells, problems)
    opt_ins = _opt_ins(reader, cells, problems)
    values = None
    if not problems:
        try:
            values = validate_fields(fields, phone_region=reader.phone_region)
        except InvalidInput as exc:
            problems.append(problem_text(exc))
    if not problems and reader.layout.record_id is not None:
        first = seen.ids.setdefault(record_id, number)
        if first != number:
            problems.append(f"record id: the same as row {first} (the first row is imported)")
    email_index = email_index_form(values.email) if values is not None and values.email else None
    if not problems and email_index is not None:
        first = seen.emails.setdefault(email_index, number)
        if first != number:
            problems.append(f"email: the same address as row {first} (the first row is imported)")
    if problems:
        return BadRow(number, "; ".join(dict.fromkeys(problems))[:300])
    record = CustomerRecord(
        external_id=f"{reader.file_id}:{record_id}",
        fields=fields,
        seen_at=reader.default_time,
        house=reader.house,
        opt_ins=opt_ins,
    )
    return PreparedRow(number, record, email_index)


def _person_fields(reader: _RowReader, cells: list[Any], problems: list[str]) -> dict[str, Any]:
    mapping = reader.mapping
    fields: dict[str, Any] = {}
    for name, index in reader.layout.person.items():
        try:
            if name == "birth_date":
                value: str | None = read_date(cell_at(cells, index), name, mapping.date_format)
            else:
                value = read_text(cell_at(cells, index), name)
                if name == "country" and value is not None:
                    value = mapping.country_names.get(header_key(value), value)
        except BadCell as exc:
            problems.append(str(exc))
            continue
        if value is not None:
            fields[name] = value  # an empty cell never clears what the hub already holds
    return fields


def _record_id(reader: _RowReader, number: int, cells: list[Any], problems: list[str]) -> str:
    """The declared record-id column's value, else the row number."""
    if reader.layout.record_id is None:
        return str(number)
    try:
        given = read_text(cell_at(cells, reader.layout.record_id), "record id")
    except BadCell as exc:
        problems.append(str(exc))
        given = None
    if given is None:
        problems.append("record id: empty")
    elif len(given) > reader.id_room or not given.isprintable():
        problems.append(f"record id: longer than {reader.id_room} characters or not printable")
    else:
        return given
    return str(number)


def _opt_ins(reader: _RowReader, cells: list[Any], problems: list[str]) -> list[EngineOptIn]:
    opt_ins: list[EngineOptIn] = []
    for opt, index, when_index in reader.layout.optins:
        try:
            answer = read_answer(cell_at(cells, index), opt)
            if answer is None:
                continue  # not asked, or no answer: nothing is recorded
            decided = None
            if when_index is not None:
                decided = read_moment(
                    cell_at(cells, when_index), opt.decided_at or opt.column, reader.moment_formats, reader.zone
                )
        except BadCell as exc:
            problems.append(str(exc))
            continue
        opt_ins.append(EngineOptIn(opt.permission, opt.purpose, reader.house, answer, decided or reader.default_time))
    return opt_ins
