"""The hub's local calendar: statistics and history count by the hub's date and hour
(Asia/Ho_Chi_Minh by default), not by UTC, so a day's report matches an office's day."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


def local(at: datetime, tz: ZoneInfo) -> datetime:
    return at.astimezone(tz)


def day_of(at: datetime, tz: ZoneInfo) -> str:
    return local(at, tz).date().isoformat()


def month_of(at: datetime, tz: ZoneInfo) -> str:
    return local(at, tz).strftime("%Y-%m")


def hour_of(at: datetime, tz: ZoneInfo) -> int:
    return local(at, tz).hour


def days(start: date, end: date) -> list[date]:
    """Every date from ``start`` to ``end`` inclusive."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def months(start: date, end: date) -> list[str]:
    """Every month (YYYY-MM) that ``start``..``end`` touches."""
    found: list[str] = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found
