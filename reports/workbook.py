"""What every report's workbook shares: streamed (write-only) sheets, cells that are never formulas,
naive UTC datetimes, a frozen header with an auto filter and column widths, and an "About" sheet
saying what the report is, for which cluster and filters, when and by whom it was made.

Write-only sheets keep memory bounded whatever the number of rows: each row goes to a temporary
file as it is appended, and openpyxl writes strings inline (no shared-strings table grows)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from consent_hub.actors import Actor

# a cell starting with one of these would be read as a formula (or a DDE call) by Excel or
# LibreOffice once edited or exported to CSV (OWASP "CSV injection")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
UTC_SUFFIX = " (UTC)"

# Excel's (and LibreOffice's) last row is 1,048,576: a longer table goes on to a further sheet
ROWS_PER_SHEET = 1_048_576 - 1  # below the header row

Kind = Literal["text", "int", "float", "datetime", "bool"]
_BOLD = Font(bold=True)


@dataclass(frozen=True)
class Column:
    name: str
    width: float = 14
    kind: Kind = "text"

    @property
    def header(self) -> str:
        """A datetime column says its values are UTC (Excel has no time zones)."""
        return self.name + UTC_SUFFIX if self.kind == "datetime" else self.name


def naive_utc(value: dt.datetime) -> dt.datetime:
    """The UTC wall time without a zone: what Excel can store."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


class ReportSheet:
    """One streamed table: header row first (bold, frozen), then ``append`` per row; ``finish``
    sets the auto filter over the rows written."""

    def __init__(self, ws: Any, columns: Sequence[Column]) -> None:
        # typed Any: the stubs give the write-only sheet none of the attributes it copies from
        # Worksheet (column_dimensions, auto_filter, conditional_formatting, add_chart)
        self.ws: Any = ws
        self.columns = list(columns)
        self.rows = 0
        for i, col in enumerate(self.columns, start=1):
            self.ws.column_dimensions[get_column_letter(i)].width = col.width
        self.ws.freeze_panes = "A2"  # before the first row: the view is written at the sheet's top
        self._convert: list[Callable[[Any], Any]] = [self._converter(c.kind) for c in self.columns]
        header = []
        for col in self.columns:
            cell = WriteOnlyCell(self.ws, col.header)
            cell.font = _BOLD
            header.append(cell)
        self.ws.append(header)

    def _converter(self, kind: Kind) -> Callable[[Any], Any]:
        if kind == "datetime":
            return self._datetime
        if kind == "text":
            return self._text
        return self._number

    def _text(self, value: Any) -> Any:
        if value is None:
            return None
        value = str(value)
        if value.startswith(FORMULA_PREFIXES):
            return text_cell(self.ws, value)
        return value

    def _number(self, value: Any) -> Any:
        # a string in a number column is still never a formula
        return self._text(value) if isinstance(value, str) else value

    def _datetime(self, value: Any) -> Any:
        if value is None:
            return None
        cell = WriteOnlyCell(self.ws, naive_utc(value))
        cell.number_format = DATETIME_FORMAT
        return cell

    def append(self, values: Sequence[Any]) -> None:
        self.ws.append([convert(v) for convert, v in zip(self._convert, values, strict=True)])
        self.rows += 1

    def extend(self, rows: Iterable[Sequence[Any]]) -> int:
        for row in rows:
            self.append(row)
        return self.rows

    @property
    def last_column(self) -> str:
        return get_column_letter(len(self.columns))

    @property
    def data_range(self) -> str:
        """The rows below the header (``A2:J2`` when there are none, so a rule still has a range)."""
        return f"A2:{self.last_column}{max(self.rows, 1) + 1}"

    def column_letter(self, name: str) -> str:
        return get_column_letter([c.name for c in self.columns].index(name) + 1)

    def finish(self) -> None:
        self.ws.auto_filter.ref = f"A1:{self.last_column}{self.rows + 1}"


class ReportTable:
    """A table of any length: it goes on to a further sheet, ``<title> (2)`` and so on, with the
    same header, each frozen and filtered, when a sheet is full (Excel opens no more rows)."""

    def __init__(self, book: ReportBook, title: str, columns: Sequence[Column], rows_per_sheet: int) -> None:
        self.book = book
        self.title = title
        self.columns = columns
        self.rows_per_sheet = rows_per_sheet
        self.rows = 0
        self.sheets = [book.sheet(title, columns)]

    def append(self, values: Sequence[Any]) -> None:
        sheet = self.sheets[-1]
        if sheet.rows >= self.rows_per_sheet:
            sheet = self.book.sheet(f"{self.title} ({len(self.sheets) + 1})", self.columns)
            self.sheets.append(sheet)
        sheet.append(values)
        self.rows += 1

    def extend(self, rows: Iterable[Sequence[Any]]) -> int:
        for row in rows:
            self.append(row)
        return self.rows


def text_cell(ws: WriteOnlyWorksheet, value: str) -> Any:
    """A string stored as text whatever it starts with: openpyxl would make ``=...`` a formula, so
    the type is set back to string, and the cell carries Excel's quote prefix (the leading
    apostrophe Excel itself records), so editing it in Excel or LibreOffice keeps it text."""
    cell = WriteOnlyCell(ws, value)
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell


class ReportBook:
    """A write-only workbook with the report's table sheets and, last, its About sheet."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.wb = Workbook(write_only=True)
        self.sheets: list[ReportSheet] = []

    def sheet(self, title: str, columns: Sequence[Column]) -> ReportSheet:
        sheet = ReportSheet(self.wb.create_sheet(title), columns)
        self.sheets.append(sheet)
        return sheet

    def table(self, title: str, columns: Sequence[Column]) -> ReportTable:
        """A table that may outgrow one sheet (the access log); ``sheet`` for the small ones."""
        return ReportTable(self, title, columns, ROWS_PER_SHEET)

    def about(
        self,
        *,
        cluster: str,
        actor: Actor,
        filters: Mapping[str, str],
        created_at: dt.datetime,
        rows: int,
        notes: Sequence[str] = (),
    ) -> None:
        ws: Any = self.wb.create_sheet("About")
        ws.column_dimensions["A"].width = 22
        ws.column_dimensions["B"].width = 90
        heading = WriteOnlyCell(ws, self.title)
        heading.font = Font(bold=True, size=14)
        ws.append([heading])
        lines: list[tuple[str, Any]] = [
            ("cluster", cluster),
            ("created at" + UTC_SUFFIX, created_at),
            ("created by", actor.id),
            ("role", actor.role),
            ("house", actor.house or "(the cluster)"),
            ("rows", rows),
        ]
        lines += [(f"filter: {k}", v) for k, v in filters.items()] or [("filters", "none")]
        for label, value in lines:
            label_cell = WriteOnlyCell(ws, label)
            label_cell.font = _BOLD
            ws.append([label_cell, self._about_value(ws, value)])
        for note in notes:
            cell = text_cell(ws, note) if note.startswith(FORMULA_PREFIXES) else WriteOnlyCell(ws, note)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            ws.append([None, cell])

    @staticmethod
    def _about_value(ws: WriteOnlyWorksheet, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            cell = WriteOnlyCell(ws, naive_utc(value))
            cell.number_format = DATETIME_FORMAT
            return cell
        if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
            return text_cell(ws, value)
        return value

    def save(self, out: BinaryIO) -> None:
        for sheet in self.sheets:
            sheet.finish()
        self.wb.save(out)
