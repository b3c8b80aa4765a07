"""An invoice as a PDF (reportlab). Chinese text needs a CJK font: reportlab's built-in CID font STSong-Light
is a standard Adobe font that PDF readers supply themselves, so nothing is embedded nor downloaded."""

from __future__ import annotations

import io

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from db.finance import Invoice
from domain.money import yuan
from domain.orders.carriers import carrier_name

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def render(invoice: Invoice, seller: str, seller_tax_number: str, replaces_number: str | None = None) -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=True)  # invariant: the same invoice renders the same bytes
    c.setTitle(f"Invoice {invoice.number}")
    c.setAuthor(seller)
    width, height = A4
    y = height - 25 * mm
    c.setFont(FONT, 18)
    c.drawCentredString(width / 2, y, "发票 Invoice")
    c.setFont(FONT, 11)
    y -= 14 * mm
    net = invoice.amount_fen - invoice.tax_fen
    rows = [
        ("发票号码 Number", invoice.number or ""),
        ("开票日期 Date", f"{invoice.issued_on:%Y-%m-%d}" if invoice.issued_on else ""),
        ("销售方 Seller", seller),
        ("销售方税号 Seller tax number", seller_tax_number),
        ("购买方 Buyer", invoice.title),
        ("购买方税号 Buyer tax number", invoice.tax_number),
        ("项目 Item", f"佣金结算 Commission, {carrier_name(invoice.carrier)} {invoice.month[:4]}-{invoice.month[4:]}"),
        ("结算单 Statement", invoice.statement_id),
        ("金额 Amount before tax", f"¥ {yuan(net)}"),
        ("税率 Tax rate", f"{invoice.tax_rate_bp / 100:g} %"),
        ("税额 Tax", f"¥ {yuan(invoice.tax_fen)}"),
        ("价税合计 Total (tax included)", f"¥ {yuan(invoice.amount_fen)}"),
    ]
    if replaces_number:
        rows.append(("作废原发票 Voids invoice", replaces_number))
    for label, value in rows:
        c.drawString(20 * mm, y, label)
        c.drawString(85 * mm, y, value)
        y -= 8 * mm
    c.showPage()
    c.save()
    return buf.getvalue()
