"""Rows of dicts as CSV or XLSX, for any operator report (statistics, connection history).

CSV is UTF-8 with a byte-order mark, so Excel shows Vietnamese names as written; XLSX is a
real workbook (openpyxl) with one header row. Columns are the union of the rows' keys in
first-seen order; lists become "a; b", nested dicts are left out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("json", "csv", "xlsx")
TABLES: dict[int | str, dict[str, Any]] = {200: {"content": {
    CSV_TYPE.split(";", maxsplit=1)[0]: {"schema": {"type": "string"}},
    XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}}}}
"""What a report's 200 is besides JSON (``format=csv`` or ``xlsx``), for its OpenAPI."""


def columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    found: dict[str, None] = {}
    for row in rows:
        found.update({k: None for k, v in row.items() if not isinstance(v, dict)})
    return list(found)


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return value


def to_csv(rows: Sequence[Mapping[str, Any]]) -> bytes:
    names = columns(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow(["" if row.get(n) is None else _cell(row.get(n)) for n in names])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(rows: Sequence[Mapping[str, Any]], title: str = "report") -> bytes:
    from openpyxl import Workbook  # here: every `truc` command imports this module

    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    names = columns(rows)
    sheet.append(names)
    for row in rows:
        sheet.append([_cell(row.get(n)) for n in names])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def render(rows: Sequence[Mapping[str, Any]], fmt: str, title: str) -> tuple[bytes, str]:
    """(body, media type) of ``rows`` as ``csv`` or ``xlsx``."""
    if fmt == "csv":
        return to_csv(rows), CSV_TYPE
    return to_xlsx(rows, title), XLSX_TYPE


def answer(report: Any, rows: Sequence[Mapping[str, Any]], fmt: str, *, title: str,
           filename: str) -> Any:
    """``report`` itself for JSON, else ``rows`` as a CSV/XLSX attachment."""
    if fmt == "json":
        return report
    from fastapi.responses import Response

    body, media = render(rows, fmt, title)
    return Response(body, media_type=media,
                    headers={"content-disposition": f'attachment; filename="{filename}.{fmt}"'})
