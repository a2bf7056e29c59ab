"""Reading a box-office file (.xlsx or .csv) into the rows the spreadsheet numbers."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from connectors.files.boxoffice.errors import FileImportError, MappingError
from connectors.files.boxoffice.mapping import BoxOfficeMapping

MAX_FILE_BYTES = 64 * 1024 * 1024


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
