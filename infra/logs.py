"""The hub's log lines: JSON (one object per line, for a log shipper) or plain text (for a
terminal), chosen by ``TRUC_LOG_FORMAT`` / ``--log-format``.

A line about a request or an event carries its context as ``extra`` fields
(``request_id``, ``app``, ``agency``, ``package_id``…); the JSON formatter writes them as
keys of the object, the plain one appends them as ``key=value``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

FORMATS = ("plain", "json")
ACTIVITY = ("truc.requests", "truc.events")
"""The line per request and the line per domain event handled: kept at INFO whatever the
level of the rest (a worker run with ``--loglevel warning`` still tells what it handled).
``TRUC_ACCESS_LOG=false`` turns the request lines off."""
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "color_message", "taskName"}


def context_of(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra`` fields given to the call that made the record, None ones left out."""
    return {k: v for k, v in record.__dict__.items()
            if k not in _STANDARD and not k.startswith("_") and v is not None}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name,
            "msg": record.getMessage(), **context_of(record)}
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in context_of(record).items())
        return f"{text} {extra}" if extra else text


def formatter(fmt: str) -> logging.Formatter:
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return JsonFormatter() if fmt == "json" else PlainFormatter()


def uvicorn_config(fmt: str, level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for ``uvicorn.run(log_config=…)`` and the Faust
    worker's ``logging_config``: every logger (the hub's, uvicorn's, Faust's) through one
    handler on stderr in the chosen format."""
    factory = f"{__name__}.{'JsonFormatter' if fmt == 'json' else 'PlainFormatter'}"
    formatter(fmt)  # refuses an unknown format before the server starts
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"truc": {"()": factory}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "truc",
                                "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            **{name: {"handlers": [], "propagate": True}
               for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
            **{name: {"level": "INFO", "handlers": [], "propagate": True}
               for name in ACTIVITY}},
    }
