"""Box-office files: buyer lists a house exports at the counter, as .xlsx or .csv, imported through a
declared column mapping (TOML; see ``connectors/files/mappings/example-boxoffice.toml``).

One file is one unit of work: every good row is imported, or nothing is (a failure anywhere rolls
the whole file back). ``dry_run`` validates and reports, then rolls back; ``strict`` rolls back when
any row is bad. Each committed import is recorded as a sync run of connector ``file:<house>``.

Rows become ``CustomerRecord``s of source ``file:<house>`` for the importing house (a ``customer``
relation there). A record's id is ``<file id>:<record id>``: with a declared record-id column (the
counter's customer number) the file id is the mapping's ``name``, so a later file of the same export
finds the same record again; without one the record id is the row number and the file id is a digest
of the file's bytes, so a row number never stands for a person beyond its own file (people are then
found again by e-mail address). Opt-in columns become house-scoped consent events for the importing
house with channel ``box-office``.

Bad rows are reported by their row number as the spreadsheet shows it and the rule they broke, by
field or column name: never a value from the file (not in the report, the logs or an exception).
Cells are read as values: a formula (``=HYPERLINK(...)``) is kept as the plain text it is, never
evaluated and never replaced by a result cached in the workbook.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import logging
import tomllib
import zoneinfo
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from openpyxl import load_workbook
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from rich.console import Console
from rich.table import Table

from consent_hub.actors import Actor
from consent_hub.clock import utcnow
from consent_hub.clusters import ClusterRegistry, UnitOfWork, cluster_scope
from consent_hub.config import config_path, load_settings
from consent_hub.consent.catalogue import load_catalogue
from consent_hub.errors import BadRequest, ConfigurationError, InvalidInput, NotFound
from consent_hub.ingest.records import CustomerRecord, EngineOptIn, PageResult, Skip
from consent_hub.ingest.runs import SyncRunService
from consent_hub.ingest.service import IngestService, problem_text
from consent_hub.people.fields import PERSON_FIELDS, email_index_form, validate_fields
from consent_hub.validation import safe_errors

log = logging.getLogger("consent_hub.sync.files")

CHANNEL = "box-office"
STREAM = "customers"
PAGE_SIZE = 500  # rows per call of the ingest service; every page is in the file's one transaction
MAX_FILE_BYTES = 64 * 1024 * 1024
DEFAULT_YES = ("ja", "j", "x", "1", "yes", "y", "oui", "true", "waar")
DEFAULT_NO = ("nee", "n", "0", "no", "non", "false", "onwaar")
IDENTIFYING = ("given_name", "family_name", "email", "phone")  # a row names a person by one of these
EXTERNAL_ID_MAX = 64  # engine_customers.external_id
IDEMPOTENCY_KEY_MAX = 100  # consent_events.idempotency_key: "file:<house>:<external id>:<permission>:<time>"
_KEY_OVERHEAD = len("file:") + 3 + len("20240101T000000.000000")
_FORMULA_START = ("=", "+", "-", "@")


class FileImportError(BadRequest):
    """The file cannot be imported (unreadable, wrong type, missing columns); nothing was written."""


class MappingError(FileImportError):
    """The column mapping is invalid; nothing was imported."""


def header_key(value: object) -> str:
    """How headers are compared: whitespace collapsed, case folded."""
    return " ".join(str(value).split()).casefold()


def _answer_key(value: str) -> str:
    return " ".join(value.split()).casefold()


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# -- the mapping ----------------------------------------------------------------------------------
class OptInColumn(BaseModel):
    """A column holding the buyer's answer to an opt-in asked at the counter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str = Field(min_length=1, max_length=200)
    purpose: str
    key: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,23}$")
    yes: tuple[str, ...] = DEFAULT_YES
    no: tuple[str, ...] = DEFAULT_NO
    decided_at: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("purpose")
    @classmethod
    def _house_scoped(cls, value: str) -> str:
        catalogue = load_catalogue()
        try:
            purpose = catalogue.get(value)
        except NotFound:
            raise ValueError(f"unknown purpose {value!r} (known: {', '.join(catalogue.purpose_keys())})") from None
        if purpose.target_kind != "house":
            raise ValueError(
                f"purpose {value!r} is not house-scoped: an opt-in given at a counter grants the importing house only"
            )
        return value

    @field_validator("yes", "no")
    @classmethod
    def _answers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        answers = tuple(dict.fromkeys(_answer_key(a) for a in value))
        if not answers or not all(answers):
            raise ValueError("must list at least one answer, none of them empty")
        return answers

    @model_validator(mode="after")
    def _distinct(self) -> OptInColumn:
        both = sorted(set(self.yes) & set(self.no))
        if both:
            raise ValueError(f"answers {both} are listed both as yes and as no")
        return self

    @property
    def permission(self) -> str:
        """The opt-in's name in evidence and idempotency keys: ``key`` when given, else the column."""
        return self.key or self.column


def _check_format(value: str | None) -> str | None:
    if value is None:
        return None
    sample = dt.datetime(1987, 6, 5, 4, 3, 2)
    try:
        readable = "%" in value and dt.datetime.strptime(sample.strftime(value), value).date() == sample.date()
    except ValueError:
        readable = False
    if not readable:
        raise ValueError("must be a strptime format with day, month and year, such as '%d/%m/%Y'")
    return value


class BoxOfficeMapping(BaseModel):
    """Which column holds what, and how the file is written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,23}$")  # the file id of record ids: keep it stable
    sheet: str | None = Field(default=None, min_length=1)  # .xlsx: the first sheet when absent
    record_id: str | None = Field(default=None, min_length=1)  # else the row number is the record id
    date_format: str | None = None  # birth dates written as text; ISO 8601 when absent
    datetime_format: str | None = None  # opt-in times written as text; ISO 8601 (or date_format) when absent
    timezone: str = "Europe/Brussels"  # of times without a zone
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8-sig"
    columns: dict[str, str]  # person field -> column header
    country_names: dict[str, str] = Field(default_factory=dict)  # e.g. "België" = "BE"
    optins: tuple[OptInColumn, ...] = ()

    @field_validator("date_format", "datetime_format")
    @classmethod
    def _format(cls, value: str | None) -> str | None:
        return _check_format(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as 'Europe/Brussels'") from None
        return value

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str) -> str:
        if value in ('"', "\r", "\n") or value.isalnum():
            raise ValueError("must be a separator such as ';', ',' or a tab")
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError("unknown encoding (use e.g. 'utf-8-sig' or 'cp1252')") from None
        return value

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(PERSON_FIELDS))
        if unknown:
            raise ValueError(f"{unknown} are not person fields (person fields: {', '.join(PERSON_FIELDS)})")
        if not any(name in value for name in IDENTIFYING):
            raise ValueError(f"must map at least one of {', '.join(IDENTIFYING)}")
        if any(not header.strip() for header in value.values()):
            raise ValueError("column headers must not be empty")
        return value

    @field_validator("country_names")
    @classmethod
    def _countries(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, code in value.items():
            if not (len(code) == 2 and code.isascii() and code.isalpha()):
                raise ValueError("values must be ISO 3166-1 alpha-2 country codes such as 'BE'")
            out[header_key(name)] = code.upper()
        return out

    @model_validator(mode="after")
    def _consistent(self) -> BoxOfficeMapping:
        seen: dict[str, str] = {}

        def claim(header: str, use: str) -> None:
            key = header_key(header)
            if key in seen:
                raise ValueError(f"column {header!r} is mapped twice ({seen[key]} and {use})")
            seen[key] = use

        for name, header in self.columns.items():
            claim(header, f"columns.{name}")
        if self.record_id is not None:
            # a record id is stored in plaintext beside the encrypted person: never a personal field
            claim(self.record_id, "record_id")
        for i, opt in enumerate(self.optins):
            claim(opt.column, f"optins[{i}].column")
            if opt.decided_at is not None:
                claim(opt.decided_at, f"optins[{i}].decided_at")
        purposes = [o.purpose for o in self.optins]
        if len(set(purposes)) != len(purposes):
            raise ValueError("optins: two columns for the same purpose would contradict each other")
        permissions = [o.permission for o in self.optins]
        if len(set(permissions)) != len(permissions):
            raise ValueError("optins: every opt-in needs its own column or key")
        return self


def load_mapping(path: Path | str) -> BoxOfficeMapping:
    """Read and validate a mapping file; MappingError (exit code 2) names every problem."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except OSError:
        raise MappingError(f"cannot read the mapping file {path.name}") from None
    except UnicodeDecodeError:
        raise MappingError(f"the mapping file {path.name} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"the mapping file {path.name} is not valid TOML: {exc}") from None
    return parse_mapping(raw)


def parse_mapping(raw: dict[str, Any] | BoxOfficeMapping) -> BoxOfficeMapping:
    if isinstance(raw, BoxOfficeMapping):
        return raw
    try:
        return BoxOfficeMapping.model_validate(raw)
    except ValidationError as exc:
        raise MappingError(safe_errors(exc, ("mapping",))) from None


# -- reading files --------------------------------------------------------------------------------
@dataclass
class Sheet:
    """A file's rows as the spreadsheet numbers them (the header row included)."""

    rows: list[tuple[int, list[Any]]]
    digest: str  # SHA-256 of the file's bytes
    stated_at: dt.datetime | None = None  # when the file says it was written (workbook properties)


def read_sheet(path: Path, mapping: BoxOfficeMapping) -> Sheet:
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise FileImportError(".xls (Excel 97-2003) files are not read: save the file as .xlsx or .csv")
    if suffix not in (".xlsx", ".xlsm", ".csv", ".txt"):
        raise FileImportError(f"unsupported file type {suffix or '(none)'!r}: import an .xlsx or a .csv file")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise FileImportError(f"{path.name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        data = path.read_bytes()
    except OSError:
        raise FileImportError(f"cannot read {path.name}") from None
    digest = hashlib.sha256(data).hexdigest()
    if suffix in (".csv", ".txt"):
        return Sheet(_csv_rows(data, mapping), digest)
    rows, stated = _xlsx_rows(data, mapping)
    return Sheet(rows, digest, stated)


def _xlsx_rows(data: bytes, mapping: BoxOfficeMapping) -> tuple[list[tuple[int, list[Any]]], dt.datetime | None]:
    try:
        # data_only=False: a formula cell yields its formula as text, not a result computed earlier
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # zip, XML and openpyxl errors alike; their messages are not shown
        raise FileImportError(f"not a readable .xlsx workbook ({type(exc).__name__})") from None
    try:
        if mapping.sheet is not None:
            if mapping.sheet not in wb.sheetnames:
                raise MappingError([{"field": "mapping.sheet", "problem": "the workbook has no sheet of that name"}])
            ws: Any = wb[mapping.sheet]
        elif wb.worksheets:
            ws = wb.worksheets[0]
        else:
            raise FileImportError("the workbook has no worksheet")
        if hasattr(ws, "reset_dimensions"):
            ws.reset_dimensions()  # exporters often write a wrong <dimension>: read every row there is
        rows = [(n, list(values)) for n, values in enumerate(ws.iter_rows(values_only=True), start=1)]
        props = wb.properties
        stated = props.modified or props.created
    except FileImportError:
        raise
    except Exception as exc:
        raise FileImportError(f"the workbook could not be read ({type(exc).__name__})") from None
    finally:
        wb.close()
    if stated is not None and stated.tzinfo is None:
        stated = stated.replace(tzinfo=dt.UTC)  # workbook properties are written in UTC
    return rows, stated


def _csv_rows(data: bytes, mapping: BoxOfficeMapping) -> list[tuple[int, list[Any]]]:
    encoding = codecs.lookup(mapping.encoding).name
    try:
        text = data.decode(mapping.encoding)
    except UnicodeDecodeError:
        raise FileImportError(
            f"the file is not {mapping.encoding} text: declare its encoding in the mapping "
            "(Belgian Excel writes cp1252, or utf-8-sig for 'CSV UTF-8')"
        ) from None
    if not encoding.startswith("utf") and not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:  # UTF-8 read as a single-byte code page would turn every accent into two characters
            raise FileImportError(f"the file is UTF-8 text but the mapping declares {mapping.encoding}")
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter, strict=False)
    rows: list[tuple[int, list[Any]]] = []
    try:
        for n, values in enumerate(reader, start=1):
            rows.append((n, list(values)))
    except csv.Error:
        raise FileImportError(f"malformed CSV after record {len(rows)}") from None
    return rows


# -- rows to records ------------------------------------------------------------------------------
class _BadCell(ValueError):
    """A cell that cannot be read as what its column holds; the message names the column only."""


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
        if any(not _blank(c) for c in cells):
            header_row, headers, data = number, cells, sheet.rows[i + 1 :]
            break
    else:
        raise FileImportError("the file is empty: no header row")
    positions: dict[str, list[int]] = {}
    for index, cell in enumerate(headers):
        if not _blank(cell):
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
        filled = [c for c in headers if not _blank(c)]
        if len(filled) == 1 and isinstance(filled[0], str) and any(sep in filled[0] for sep in ";,\t|"):
            problems.append(
                {"field": "mapping.delimiter", "problem": "the header row is one single column: check the delimiter"}
            )
        raise FileImportError(problems)
    return Layout(header_row, person, record_id, optins), data


def _cell(cells: list[Any], index: int) -> Any:
    return cells[index] if 0 <= index < len(cells) else None


def _text(value: Any, name: str) -> str | None:
    if _blank(value):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        raise _BadCell(f"{name}: a true/false cell where text is expected")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)  # 8500.0 -> "8500"
    if isinstance(value, dt.datetime | dt.date | dt.time | dt.timedelta):
        raise _BadCell(f"{name}: a date cell where text is expected")
    raise _BadCell(f"{name}: a cell of a kind that cannot be read as text")


def _date(value: Any, name: str, fmt: str | None) -> str | None:
    if _blank(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        try:
            if fmt is not None:
                return dt.datetime.strptime(text, fmt).date().isoformat()
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise _BadCell(f"{name}: not a (possible) date in the format {fmt or 'YYYY-MM-DD'}") from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise _BadCell(f"{name}: a number where a date is expected")
    raise _BadCell(f"{name}: a cell of a kind that cannot be read as a date")


def _moment(value: Any, name: str, formats: Sequence[str], zone: dt.tzinfo) -> dt.datetime | None:
    def aware(moment: dt.datetime) -> dt.datetime:
        return (moment.replace(tzinfo=zone) if moment.tzinfo is None else moment).astimezone(dt.UTC)

    if _blank(value):
        return None
    if isinstance(value, dt.datetime):
        return aware(value)
    if isinstance(value, dt.date):
        return aware(dt.datetime.combine(value, dt.time()))
    if isinstance(value, str):
        text = value.strip()
        for fmt in formats:
            try:
                return aware(dt.datetime.strptime(text, fmt))
            except ValueError:
                continue
        try:
            return aware(dt.datetime.fromisoformat(text))
        except ValueError:
            shown = " or ".join([*formats, "ISO 8601"])
            raise _BadCell(f"{name}: not a date and time in the format {shown}") from None
    raise _BadCell(f"{name}: a cell of a kind that cannot be read as a date and time")


def _answer(value: Any, opt: OptInColumn) -> bool | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        text = str(int(value)) if float(value).is_integer() else str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise _BadCell(f"{opt.column}: a cell of a kind that cannot be read as an answer")
    key = _answer_key(text)
    if key in opt.yes:
        return True
    if key in opt.no:
        return False
    raise _BadCell(f"{opt.column}: the answer is not one of the mapping's yes or no answers")


@dataclass(frozen=True)
class BadRow:
    row: int  # as the spreadsheet shows it: the header is row 1 when it is the first row
    reason: str  # field or column names and the rule broken; never a value


@dataclass
class _Row:
    row: int
    record: CustomerRecord
    email_index: str | None  # index form of the validated address, for duplicates in the file


@dataclass
class _Prepared:
    rows: list[_Row]
    bad: list[BadRow]
    read: int
    file_id: str


def prepare_rows(
    sheet: Sheet,
    mapping: BoxOfficeMapping,
    house: str,
    *,
    phone_region: str,
    default_time: dt.datetime,
) -> _Prepared:
    """Map and validate every row; nothing is written here."""
    layout, data = resolve_layout(sheet, mapping)
    file_id = mapping.name if mapping.record_id is not None else sheet.digest[:12]
    zone = zoneinfo.ZoneInfo(mapping.timezone)
    moment_formats = [f for f in (mapping.datetime_format, mapping.date_format) if f]
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
    rows: list[_Row] = []
    bad: list[BadRow] = []
    read = 0
    ids_seen: dict[str, int] = {}
    emails_seen: dict[str, int] = {}
    for number, cells in data:
        if all(_blank(c) for c in cells):
            continue  # empty rows (often formatted ones below the data) are not rows of the file
        read += 1
        problems: list[str] = []
        fields: dict[str, Any] = {}
        for name, index in layout.person.items():
            try:
                if name == "birth_date":
                    value: str | None = _date(_cell(cells, index), name, mapping.date_format)
                else:
                    value = _text(_cell(cells, index), name)
                    if name == "country" and value is not None:
                        value = mapping.country_names.get(header_key(value), value)
            except _BadCell as exc:
                problems.append(str(exc))
                continue
            if value is not None:
                fields[name] = value  # an empty cell never clears what the hub already holds
        if not problems and not any(name in fields for name in IDENTIFYING):
            problems.append(f"no name, e-mail address or phone number in the mapped columns ({', '.join(IDENTIFYING)})")
        record_id = str(number)
        if layout.record_id is not None:
            try:
                given = _text(_cell(cells, layout.record_id), "record id")
            except _BadCell as exc:
                problems.append(str(exc))
                given = None
            if given is None:
                problems.append("record id: empty")
            elif len(given) > id_room or not given.isprintable():
                problems.append(f"record id: longer than {id_room} characters or not printable")
            else:
                record_id = given
        opt_ins: list[EngineOptIn] = []
        for opt, index, when_index in layout.optins:
            try:
                answer = _answer(_cell(cells, index), opt)
                if answer is None:
                    continue  # not asked, or no answer: nothing is recorded
                decided = None
                if when_index is not None:
                    decided = _moment(_cell(cells, when_index), opt.decided_at or opt.column, moment_formats, zone)
            except _BadCell as exc:
                problems.append(str(exc))
                continue
            opt_ins.append(EngineOptIn(opt.permission, opt.purpose, house, answer, decided or default_time))
        values = None
        if not problems:
            try:
                values = validate_fields(fields, phone_region=phone_region)
            except InvalidInput as exc:
                problems.append(problem_text(exc))
        if not problems and layout.record_id is not None:
            first = ids_seen.setdefault(record_id, number)
            if first != number:
                problems.append(f"record id: the same as row {first} (the first row is imported)")
        email_index = email_index_form(values.email) if values is not None and values.email else None
        if not problems and email_index is not None:
            first = emails_seen.setdefault(email_index, number)
            if first != number:
                problems.append(f"email: the same address as row {first} (the first row is imported)")
        if problems:
            bad.append(BadRow(number, "; ".join(dict.fromkeys(problems))[:300]))
            continue
        record = CustomerRecord(
            external_id=f"{file_id}:{record_id}",
            fields=fields,
            seen_at=default_time,
            house=house,
            opt_ins=opt_ins,
        )
        rows.append(_Row(number, record, email_index))
    return _Prepared(rows, bad, read, file_id)


# -- importing ------------------------------------------------------------------------------------
@dataclass
class ImportReport:
    """What an import did (or, rolled back, would have done). No personal data."""

    file: str  # the file's name, without its folder
    cluster: str
    house: str
    source: str
    file_id: str
    rows_read: int = 0
    created: int = 0  # new people
    updated: int = 0  # records seen before whose fields changed
    matched: int = 0  # new records of people the hub already knew (same e-mail address)
    unchanged: int = 0  # records seen before, nothing changed
    suppressed: int = 0  # erased earlier: not re-created
    consents: int = 0  # consent events recorded (opt-ins and refusals)
    bad_rows: list[BadRow] = field(default_factory=list)
    dry_run: bool = False
    strict: bool = False
    committed: bool = False
    run_id: str | None = None

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.matched

    @property
    def already_known(self) -> int:
        return self.matched + self.unchanged

    def write_csv(self, path: Path) -> None:
        """The bad rows, one per line: row number and reason."""
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["row", "reason"])
            for bad in self.bad_rows:
                reason = f"'{bad.reason}" if bad.reason.startswith(_FORMULA_START) else bad.reason
                writer.writerow([bad.row, reason])


def _stated_time(sheet: Sheet, exported_at: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    stated = exported_at or sheet.stated_at
    if stated is None:
        return now
    if stated.tzinfo is None:
        stated = stated.replace(tzinfo=dt.UTC)
    return min(stated.astimezone(dt.UTC), now)


@contextmanager
def _transaction(registry: ClusterRegistry, cluster: str) -> Iterator[UnitOfWork]:
    """One unit of work that the caller commits; rolled back unless committed, and on any error."""
    with cluster_scope(cluster):
        uow = registry.open(cluster)
        try:
            yield uow
        except BaseException:
            uow.rollback()
            raise
        else:
            uow.rollback()  # a no-op after a commit
        finally:
            uow.close()


def import_file(
    registry: ClusterRegistry,
    cluster: str,
    house: str,
    path: Path | str,
    mapping: BoxOfficeMapping | Path | str | dict[str, Any],
    *,
    dry_run: bool = False,
    strict: bool = False,
    exported_at: dt.datetime | None = None,
    actor: Actor | None = None,
    trigger: str = "cli",
) -> ImportReport:
    """Import one box-office file for ``house``: all its good rows in one transaction, or nothing.

    Raises FileImportError / MappingError (nothing written) when the file or mapping cannot be used.
    With ``dry_run``, or ``strict`` and a bad row, everything is rolled back and the report says
    what would have happened. Any other error rolls the whole file back and propagates.
    """
    path = Path(path)
    spec = parse_mapping(mapping) if isinstance(mapping, BoxOfficeMapping | dict) else load_mapping(mapping)
    actor = actor or Actor.cli(cluster)
    source = f"file:{house}"
    now = utcnow()
    sheet = read_sheet(path, spec)
    rt = registry.runtime(cluster)
    prepared = prepare_rows(
        sheet, spec, house, phone_region=rt.phone_region, default_time=_stated_time(sheet, exported_at, now)
    )
    report = ImportReport(
        file=path.name,
        cluster=cluster,
        house=house,
        source=source,
        file_id=prepared.file_id,
        rows_read=prepared.read,
        dry_run=dry_run,
        strict=strict,
    )
    with _transaction(registry, cluster) as uow:
        ingest = IngestService(uow, actor, source, channel=CHANNEL)
        if ingest.house_id(house) is None:
            raise FileImportError(
                [{"field": "house", "problem": f"no house {house!r} is registered in cluster {cluster!r}"}]
            )
        runs = SyncRunService(uow)
        run = runs.start(actor, source, trigger=trigger, upper_bound=now.replace(microsecond=0))
        report.run_id = str(run.id)
        bad_by_row: dict[int, list[str]] = {b.row: [b.reason] for b in prepared.bad}
        first = PageResult(read=len(prepared.bad), skipped=[Skip(f"row {b.row}", b.reason) for b in prepared.bad])
        pages = [prepared.rows[i : i + PAGE_SIZE] for i in range(0, len(prepared.rows), PAGE_SIZE)] or [[]]
        for i, page in enumerate(pages):
            result = _import_page(ingest, page, report, bad_by_row) if page else PageResult()
            if i == 0:
                result.read += first.read
                result.skipped = first.skipped + result.skipped
            runs.page_done(run.id, STREAM, result)
        report.bad_rows = [BadRow(row, "; ".join(reasons)[:300]) for row, reasons in sorted(bad_by_row.items())]
        runs.finish(actor, run.id, "succeeded")
        if dry_run or (strict and report.bad_rows):
            report.run_id = None  # rolled back with everything else
        else:
            uow.commit()
            report.committed = True
    for bad in report.bad_rows:
        log.info("%s: row %d not imported: %s", path.name, bad.row, bad.reason)
    return report


def _import_page(
    ingest: IngestService, page: Sequence[_Row], report: ImportReport, bad_by_row: dict[int, list[str]]
) -> PageResult:
    source = ingest.source
    ids = [r.record.external_id for r in page]
    known = {ext: (m.person_id, m.status, m.fields_mac) for ext, m in ingest.repo.engine_customers(source, ids).items()}
    statuses = ingest.people.repo.statuses([pid for pid, _, _ in known.values() if pid is not None])
    indexer = ingest.uow.rt.indexer
    fresh_index = {r.record.external_id: indexer.email(r.email_index) for r in page if r.email_index}
    existing = set(ingest.people.repo.ids_by_email_indexes(list(set(fresh_index.values()))).values())
    result = ingest.upsert_customers([r.record for r in page])
    # the service names a record, or one opt-in of a record, by the record's id: back to row numbers
    record_rows = {r.record.external_id: r.row for r in page}
    optin_rows = {f"{r.record.external_id}:{o.permission}": r.row for r in page for o in r.record.opt_ins}
    rejected: set[int] = set()
    skipped: list[Skip] = []
    for skip in result.skipped:
        row = record_rows.get(skip.ref)
        if row is not None:
            rejected.add(row)  # the record was left out
        else:
            row = optin_rows.get(skip.ref)  # the person was imported, this opt-in was not
        if row is None:
            continue
        bad_by_row.setdefault(row, []).append(skip.reason)
        skipped.append(Skip(f"row {row}", skip.reason))
    result.skipped = skipped
    after = ingest.repo.engine_customers(source, ids)
    changed = 0
    for r in page:
        ext = r.record.external_id
        mapping = after.get(ext)
        if r.row in rejected or mapping is None:
            continue
        if ext in known:
            pid, status, mac = known[ext]
            if pid is None or status != "linked" or statuses.get(pid) != "active":
                report.suppressed += 1
            elif mapping.fields_mac != mac:
                report.updated += 1
                changed += 1
            else:
                report.unchanged += 1
        elif mapping.status == "suppressed":
            report.suppressed += 1
        elif mapping.person_id in existing:
            report.matched += 1
            changed += 1
        else:
            report.created += 1
            changed += 1
    report.consents += max(result.written - changed, 0)
    return result


# -- the command ----------------------------------------------------------------------------------
def _parse_time(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput([{"field": "exported-at", "problem": "must be an ISO 8601 date and time"}]) from None
    return moment.replace(tzinfo=zoneinfo.ZoneInfo("Europe/Brussels")) if moment.tzinfo is None else moment


def print_report(report: ImportReport, console: Console, *, limit: int = 50) -> None:
    if report.committed:
        verdict = "[green]imported[/green]"
    elif report.dry_run:
        verdict = "[yellow]dry run: nothing written[/yellow]"
    else:
        verdict = f"[red]strict: nothing written ({len(report.bad_rows)} bad rows)[/red]"
    console.print(
        f"{report.file} into house [bold]{report.house}[/bold] of cluster {report.cluster}: {verdict}",
        highlight=False,
        soft_wrap=True,
    )
    summary = Table(show_header=False)
    summary.add_column("what")
    summary.add_column("rows", justify="right")
    for label, count in (
        ("rows read", report.rows_read),
        ("imported", report.imported),
        ("  new people", report.created),
        ("  updated", report.updated),
        ("  linked to a person already known (same e-mail)", report.matched),
        ("already known, unchanged", report.unchanged),
        ("suppressed (erased earlier, not re-created)", report.suppressed),
        ("bad rows", len(report.bad_rows)),
        ("consents recorded", report.consents),
    ):
        summary.add_row(label, str(count))
    console.print(summary)
    if report.bad_rows:
        bad = Table("row", "reason", title="bad rows")
        for row in report.bad_rows[:limit]:
            bad.add_row(str(row.row), row.reason)
        console.print(bad)
        if len(report.bad_rows) > limit:
            console.print(f"... and {len(report.bad_rows) - limit} more bad rows (use --report FILE for all)")
    if report.run_id:
        console.print(
            f"recorded as sync run {report.run_id} of connector {report.source}", highlight=False, soft_wrap=True
        )


def import_file_command(
    file: Annotated[Path, typer.Argument(help="the box-office export: .xlsx or .csv")],
    cluster: Annotated[str, typer.Option("--cluster", "-c", help="cluster name")],
    house: Annotated[str, typer.Option("--house", help="slug of the house that exported the file")],
    mapping: Annotated[Path, typer.Option("--mapping", "-m", help="column mapping (TOML)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate and report; write nothing")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="any bad row: import nothing, exit code 1")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="write the bad rows to this CSV file")] = None,
    exported_at: Annotated[
        str | None,
        typer.Option("--exported-at", help="when the file was exported (ISO 8601); opt-ins without a time get it"),
    ] = None,
) -> None:
    """Import a box-office buyer list (.xlsx / .csv) for one house, all good rows or nothing."""
    path = config_path()
    if not path.exists():
        raise ConfigurationError(f"no hub configuration at {path}; run `consent-hub init`")
    settings = load_settings(path)
    settings.cluster(cluster)
    spec = load_mapping(mapping)
    registry = ClusterRegistry(settings)
    try:
        result = import_file(
            registry, cluster, house, file, spec, dry_run=dry_run, strict=strict, exported_at=_parse_time(exported_at)
        )
    finally:
        registry.dispose()
    print_report(result, Console())
    if report is not None:
        result.write_csv(report)
        Console(stderr=True).print(f"bad rows written to {report.name}", highlight=False)
    if strict and result.bad_rows:
        raise typer.Exit(1)
