"""One rooted hierarchy of domain errors.

Each error has a stable ``code`` that integrating systems can program against, a
``status`` hint for HTTP, and a ``retriable`` flag that retry logic reads.

    TrucError
    ├── InvalidRequest        400  the request itself is wrong
    ├── NotFound              404  unknown, or not visible to the caller (never 403)
    ├── Conflict              409  contradicts the current state
    └── Unavailable           503  a dependency is down; retry later
"""

from __future__ import annotations

from typing import Any


class TrucError(Exception):
    code = "error"
    status = 500
    retriable = False

    def __init__(self, detail: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra


class InvalidRequest(TrucError):
    code = "invalid_request"
    status = 400


class NotFound(TrucError):
    code = "not_found"
    status = 404


class Conflict(TrucError):
    code = "conflict"
    status = 409


class RangeNotSatisfiable(TrucError):
    code = "range_not_satisfiable"
    status = 416


class Unavailable(TrucError):
    code = "unavailable"
    status = 503
    retriable = True
