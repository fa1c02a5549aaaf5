"""What a report request may ask: a date range in the hub's calendar, a format, a grain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from hub.errors import InvalidRequest

MAX_DAYS = 366
FORMATS = ("json", "csv", "xlsx")
GRAINS = ("day", "hour")


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date

    @property
    def stop_key(self) -> str:
        """The first key after the range, for key-range scans (keys begin with a date)."""
        return (self.end + timedelta(days=1)).isoformat()


def parse_day(value: str | None, default: date, name: str) -> date:
    if value is None or value == "":
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{name} must be a date like 2026-11-27, not {value!r}",
                             code="invalid_date") from None


def date_range(start: str | None, end: str | None, today: date) -> DateRange:
    """``from``..``to`` inclusive; each defaults to today (hub-local)."""
    first = parse_day(start, today, "from")
    last = parse_day(end, first if start else today, "to")
    if last < first:
        raise InvalidRequest("'to' is before 'from'", code="invalid_date_range")
    if (last - first).days >= MAX_DAYS:
        raise InvalidRequest(f"a report covers at most {MAX_DAYS} days",
                             code="invalid_date_range")
    return DateRange(first, last)


def check_choice(value: str, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise InvalidRequest(f"{name} must be one of {', '.join(allowed)}",
                             code=f"invalid_{name}")
    return value
