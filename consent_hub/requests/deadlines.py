"""The deadlines of GDPR Art. 12(3) on the cluster's calendar.

A period of one month from receipt ends at the end of the day with the same date in the next month
(the month's last day when it has none), in the time zone of the cluster that received it
(Regulation 1182/71 on periods, dates and time limits, Art. 3). Deadlines are stored as the UTC
moment that day ends, so "overdue" is one comparison with the clock whatever the time zone."""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

DUE_SOON_DAYS = 7
MAX_EXTENSION_MONTHS = 2


def months_after(day: dt.date, months: int) -> dt.date:
    """The same date ``months`` later, or that month's last day when it has no such date."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def end_of_day(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The UTC moment ``day`` ends in ``zone`` (the next local midnight, so DST days are right)."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def local_day(moment: dt.datetime, zone: ZoneInfo) -> dt.date:
    return moment.astimezone(zone).date()


def due_day(deadline: dt.datetime, zone: ZoneInfo) -> dt.date:
    """The last day of a period that ends at ``deadline`` (the day before the local midnight)."""
    return (deadline - dt.timedelta(microseconds=1)).astimezone(zone).date()


def one_month_deadline(received_at: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return end_of_day(months_after(local_day(received_at, zone), 1), zone)


def extended_deadline(due_at: dt.datetime, months: int, zone: ZoneInfo) -> dt.datetime:
    """The first month's deadline moved by ``months`` (1 or 2) further months."""
    return end_of_day(months_after(due_day(due_at, zone), months), zone)


def days_left(deadline: dt.datetime, now: dt.datetime, zone: ZoneInfo) -> int:
    """Calendar days from today (in ``zone``) to the last day; negative once overdue."""
    return (due_day(deadline, zone) - local_day(now, zone)).days
