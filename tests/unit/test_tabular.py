"""Report rows as CSV (with BOM) and XLSX that opens."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from api.tabular import to_csv, to_xlsx

ROWS = [{"date": "2026-11-27", "agency": "Sở Tài chính", "sent": 3, "codes": ["a", "b"]},
        {"date": "2026-11-28", "agency": "Đơn vị", "sent": 0, "extra": None,
         "nested": {"x": 1}}]


def test_csv_has_a_bom_and_every_column() -> None:
    data = to_csv(ROWS)
    assert data.startswith(b"\xef\xbb\xbf")
    got = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert got[0] == ["date", "agency", "sent", "codes", "extra"]
    assert got[1] == ["2026-11-27", "Sở Tài chính", "3", "a; b", ""]
    assert got[2][1] == "Đơn vị"


def test_xlsx_opens_with_values_typed() -> None:
    sheet = load_workbook(io.BytesIO(to_xlsx(ROWS, "thống kê"))).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == ("date", "agency", "sent", "codes", "extra")
    assert values[1] == ("2026-11-27", "Sở Tài chính", 3, "a; b", None)
    assert sheet.title == "thống kê"


def test_no_rows_still_a_header() -> None:
    assert to_csv([]) == "\ufeff\r\n".encode()
    assert list(load_workbook(io.BytesIO(to_xlsx([]))).active.iter_rows(values_only=True)) \
        in ([], [()])
