"""Reading one cell as what its column holds: text, a date, a moment or an opt-in answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from connectors.files.boxoffice.mapping import OptInColumn, answer_key
from connectors.sources.mapping import BadRecord


class BadCell(BadRecord):
    """A cell that cannot be read as what its column holds (a record of the file that cannot be
    mapped); the message names the column only."""


def blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def cell_at(cells: list[Any], index: int) -> Any:
    return cells[index] if 0 <= index < len(cells) else None


def read_text(value: Any, name: str) -> str | None:
    if blank(value):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        raise BadCell(f"{name}: a true/false cell where text is expected")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)  # 8500.0 -> "8500"
    if isinstance(value, dt.datetime | dt.date | dt.time | dt.timedelta):
        raise BadCell(f"{name}: a date cell where text is expected")
    raise BadCell(f"{name}: a cell of a kind that cannot be read as text")


def read_date(value: Any, name: str, fmt: str | None) -> str | None:
    if blank(value):
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
            raise BadCell(f"{name}: not a (possible) date in the format {fmt or 'YYYY-MM-DD'}") from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise BadCell(f"{name}: a number where a date is expected")
    raise BadCell(f"{name}: a cell of a kind that cannot be read as a date")


def read_moment(value: Any, name: str, formats: Sequence[str], zone: dt.tzinfo) -> dt.datetime | None:
    def aware(moment: dt.datetime) -> dt.datetime:
        return (moment.replace(tzinfo=zone) if moment.tzinfo is None else moment).astimezone(dt.UTC)

    if blank(value):
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
            raise BadCell(f"{name}: not a date and time in the format {shown}") from None
    raise BadCell(f"{name}: a cell of a kind that cannot be read as a date and time")


def read_answer(value: Any, opt: OptInColumn) -> bool | None:
    if blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        text = str(int(value)) if float(value).is_integer() else str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise BadCell(f"{opt.column}: a cell of a kind that cannot be read as an answer")
    key = answer_key(text)
    if key in opt.yes:
        return True
    if key in opt.no:
        return False
    raise BadCell(f"{opt.column}: the answer is not one of the mapping's yes or no answers")
