"""Tables people open in a spreadsheet: CSV (UTF-8 with a BOM, so Excel reads Chinese text) and XLSX."""

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

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


# ---- reports: a header block, subtotals, and one table per sheet, with numbers as numbers -------------------


@dataclass
class Sheet:
    """One table of a report. `money_columns` hold yuan as numbers (Decimal, shown with two decimals), so a
    spreadsheet sums them; the fen columns beside them are the exact integers."""

    title: str
    columns: Sequence[str]
    rows: list[Sequence] = field(default_factory=list)
    money_columns: Sequence[str] = ()


@dataclass
class Report:
    """A report people open and sum: the header block (who, which month, generated when), then the sheets."""

    header: list[tuple[str, object]]
    sheets: list[Sheet]


def report_xlsx(report: Report) -> bytes:
    """Every sheet starts with the header block (bold labels), one blank row, then its table (bold, frozen header)."""
    wb = Workbook()
    wb.remove(wb.active)
    for sheet in report.sheets:
        ws = wb.create_sheet(sheet.title[:31])
        for label, value in report.header:
            ws.append([label, value])
            ws.cell(row=ws.max_row, column=1).font = Font(bold=True)
            if isinstance(value, Decimal):
                ws.cell(row=ws.max_row, column=2).number_format = "0.00"
        ws.append([])
        ws.append(list(sheet.columns))
        head = ws.max_row
        for cell in ws[head]:
            cell.font = Font(bold=True)
        money = [sheet.columns.index(c) + 1 for c in sheet.money_columns]
        for row in sheet.rows:
            ws.append(list(row))
            for c in money:
                ws.cell(row=ws.max_row, column=c).number_format = "0.00"
        ws.freeze_panes = ws.cell(row=head + 1, column=1)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def report_csv(report: Report) -> bytes:
    """The header block as label,value lines, then each sheet: a line with its title, its table, a blank line.
    Numbers are written bare (12000, 120.00), so a spreadsheet reads them as numbers."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for label, value in report.header:
        writer.writerow([label, value])
    for sheet in report.sheets:
        writer.writerow([])
        writer.writerow([f"[{sheet.title}]"])
        writer.writerow(sheet.columns)
        writer.writerows(sheet.rows)
    return buf.getvalue().encode("utf-8-sig")


def yuan_number(fen: int) -> Decimal:
    """Exact yuan as a number a spreadsheet sums: 12345 fen -> Decimal('123.45')."""
    return Decimal(fen).scaleb(-2)


def safe_text(text: str) -> str:
    """Spreadsheet formula injection guard for text that may come from outside (carrier or bank details)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
