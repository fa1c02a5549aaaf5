"""Bounds on every value that enters an event, checked where it enters.

A value the log cannot hold (a date past year 9999 once moved to UTC, an integer wider
than an Avro ``long``, a lone surrogate) would be recorded and then stop every processor
that reads it. So each value a caller gives is checked here before an event is made, and
refused with ``InvalidRequest`` naming the field (``extra["field"]``). The codec's check
before append (``infra.avro.EventCodec.encode``) is the last wall behind these.

The limits (also listed in docs/integrating.md):

- instants: timezone-aware, moved to UTC, years ``YEAR_MIN``..``YEAR_MAX``;
- deadlines: in the future and at most ``MAX_DEADLINE_AHEAD`` (100 years) ahead;
- integers: within an Avro ``long`` and each field's own domain limit;
- text: valid Unicode (no lone surrogates), NFC-normalised, no control characters (line
  breaks and tabs only where the text may have several lines), length-capped.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Final

from hub.errors import InvalidRequest

YEAR_MIN: Final = 2000
YEAR_MAX: Final = 2200
MAX_DEADLINE_AHEAD: Final = timedelta(days=36_525)
"""A century: further ahead is a mistake, not a plan (and integrations already use far
deadlines such as 2099 to mean "no hurry", so ten years would break them)."""
LONG_MAX: Final = 2**63 - 1
"""Avro ``long``; every integer field of the event schemas is a long."""

MAX_OFFLINE_WAIT_SECONDS: Final = 366 * 24 * 3600
"""A year: how long a seal may ask the hub to wait for an offline destination."""
MAX_OVERLAP_HOURS: Final = 366 * 24
"""A year: how long a rotated-out key may keep working."""
MAX_RECIPIENTS: Final = 1000
MAX_GRANT_ITEMS: Final = 1000

TITLE: Final = 500
NOTE: Final = 2000
NAME: Final = 300
REASON: Final = 500
URL: Final = 2000
PROTOCOL: Final = 40
IDEMPOTENCY_KEY: Final = 200
PUBLIC_KEY_PEM: Final = 16_384

DATA_TYPE: Final = re.compile(r"[a-z0-9][a-z0-9.+-]{0,39}")
"""A data type (``edxml``, ``pdf``): always ``fullmatch``ed."""
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_TOKEN: Final = re.compile(r"[\x21-\x7e]+")
"""Visible ASCII: idempotency keys travel in a header and name a package."""


def refused(field: str, detail: str, code: str = "invalid_field") -> InvalidRequest:
    return InvalidRequest(f"{field}: {detail}", code=code, field=field)


def check_instant(value: datetime, field: str, code: str = "invalid_field") -> datetime:
    """An aware datetime within years ``YEAR_MIN``..``YEAR_MAX``, as UTC."""
    if not isinstance(value, datetime):
        raise refused(field, "must be a date and time", code)
    if value.tzinfo is None or value.utcoffset() is None:
        raise refused(field, "needs a time zone (e.g. 2026-12-01T17:00:00+07:00)", code)
    if not YEAR_MIN <= value.year <= YEAR_MAX:  # before the move: 9999-12-31-00:01 overflows
        raise refused(field, f"must be in the years {YEAR_MIN} to {YEAR_MAX}", code)
    moved = value.astimezone(UTC)
    if not YEAR_MIN <= moved.year <= YEAR_MAX:
        raise refused(field, f"must be in the years {YEAR_MIN} to {YEAR_MAX}", code)
    return moved


def check_deadline(value: datetime, now: datetime, field: str = "deadline",
                   code: str = "invalid_deadline") -> datetime:
    """A deadline in UTC, after ``now`` and at most ``MAX_DEADLINE_AHEAD`` after it."""
    moved = check_instant(value, field, code)
    if moved <= now:
        raise refused(field, "is in the past", code)
    if moved > now + MAX_DEADLINE_AHEAD:
        raise refused(field, f"is more than {MAX_DEADLINE_AHEAD.days} days ahead", code)
    return moved


def check_int(value: int, field: str, low: int, high: int, code: str = "invalid_field") -> int:
    """An integer (not a bool, not a float) in ``low..high`` (and so in an Avro long)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise refused(field, "must be a whole number", code)
    if not max(low, -LONG_MAX - 1) <= value <= min(high, LONG_MAX):
        raise refused(field, f"must be between {low} and {high}", code)
    return value


def check_number(value: float, field: str, low: float, high: float,
                 code: str = "invalid_field") -> float:
    """A finite number in ``low..high`` (JSON parsers let NaN and Infinity through)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise refused(field, "must be a finite number", code)
    if not low <= value <= high:
        raise refused(field, f"must be between {low} and {high}", code)
    return float(value)


def check_text(value: str, field: str, max_length: int, *, multiline: bool = False,
               allow_empty: bool = False, code: str = "invalid_field") -> str:
    """Text as it will be recorded: stripped, NFC, valid Unicode, no control characters
    (``multiline`` allows line breaks and tabs), 1..``max_length`` characters."""
    if not isinstance(value, str):
        raise refused(field, "must be text", code)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise refused(field, "is not valid Unicode (a lone surrogate)", code) from None
    text = unicodedata.normalize("NFC", value).strip()
    if (_CONTROL_BUT_LINES if multiline else _CONTROL).search(text):
        raise refused(field, "must not contain control characters", code)
    if not text and not allow_empty:
        raise refused(field, "must not be empty", code)
    if len(text) > max_length:
        raise refused(field, f"has at most {max_length} characters", code)
    return text


def check_optional_text(value: str | None, field: str, max_length: int, *,
                        multiline: bool = False, code: str = "invalid_field") -> str | None:
    """``check_text`` for an optional value; blank counts as absent."""
    if value is None:
        return None
    return check_text(value, field, max_length, multiline=multiline, allow_empty=True,
                      code=code) or None


def check_token(value: str, field: str, max_length: int, code: str = "invalid_field") -> str:
    """A short identifier of visible ASCII (no spaces)."""
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise refused(field, "must be visible ASCII characters without spaces", code)
    if len(value) > max_length:
        raise refused(field, f"has at most {max_length} characters", code)
    return value


def check_count(items: list[str], field: str, most: int, code: str = "invalid_field") -> None:
    if len(items) > most:
        raise refused(field, f"has at most {most} items", code)
