"""Tables people open in a spreadsheet: CSV (UTF-8 with a BOM, so Excel reads Chinese text) and XLSX."""

import csv
import io
from collections.abc import Iterable, Sequence

from openpyxl import Workbook
from openpyxl.styles import Font

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def csv_bytes(columns: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows(rows)  # None is written as an empty cell
    return buf.getvalue().encode("utf-8-sig")


def xlsx_bytes(title: str, columns: Sequence[str], rows: Iterable[Sequence], *, text_columns: Sequence[str] = (),
               total_row: bool = False) -> bytes:
    """One sheet with a bold, frozen header. `text_columns` keep their exact text (never a float);
    `total_row` makes the last row bold."""
    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]  # Excel's limit for a sheet name
    ws.append(list(columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    as_text = [columns.index(c) + 1 for c in text_columns]
    for row in rows:
        ws.append(list(row))
        for col in as_text:
            ws.cell(row=ws.max_row, column=col).number_format = "@"
    if total_row and ws.max_row > 1:
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def attachment(filename: str) -> dict[str, str]:
    """Response headers that make a browser save the body as `filename`."""
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def safe_filename_part(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)
