"""Invoices against a settled statement (settlement rules 1.10): the agent asks, finance issues or refuses.

The amount is the statement's commission (never typed by anyone); it includes the tax, which is worked out
from the rate finance chooses: tax = amount x rate / (1 + rate), rounded half up to the fen, and the amount
before tax is the rest, so the two always add up to the statement's figure. One live invoice per statement:
a re-issue voids the old one and issues a new number; a refused request frees the statement for a new request.
"""

from datetime import date
from enum import StrEnum

from domain.money import BASIS_POINTS, Fen, ratio_half_up


class InvoiceState(StrEnum):
    REQUESTED = "requested"
    ISSUED = "issued"
    REFUSED = "refused"
    VOIDED = "voided"  # replaced by a re-issue


LIVE_STATES = frozenset({InvoiceState.REQUESTED, InvoiceState.ISSUED})
# VAT rates of China in basis points: 13 %, 9 %, 6 % (services: what a commission is), 3 % and 1 % (small-scale
# taxpayers), 0 %. Finance picks one; anything else is refused.
TAX_RATES_BP = (1300, 900, 600, 300, 100, 0)
DEFAULT_TAX_RATE_BP = 600


def tax_of(amount_fen: Fen, rate_bp: int) -> Fen:
    """The tax inside a tax-inclusive amount: amount x rate / (10000 + rate), half up to the fen."""
    if rate_bp not in TAX_RATES_BP:
        raise ValueError(f"tax rate {rate_bp} bp is not one of {TAX_RATES_BP}")
    return ratio_half_up(amount_fen, rate_bp, BASIS_POINTS + rate_bp)


def invoice_number(issued_on: date, serial: int) -> str:
    """SB<yyyymmdd><serial, 6 digits>: unique by the serial, readable by the date."""
    return f"SB{issued_on:%Y%m%d}{serial:06d}"
