"""Money is integer fen (1 yuan = 100 fen). Every rounding rule is a named function here."""

Fen = int
BASIS_POINTS = 10_000  # 1 bp = 0.01 %


def share_half_up(amount_fen: Fen, basis_points: int) -> Fen:
    """amount x bp / 10000, rounded half up to the fen (amounts and shares are never negative here)."""
    if amount_fen < 0 or basis_points < 0:
        raise ValueError("share of a negative amount or rate is not defined")
    return (amount_fen * basis_points * 2 + BASIS_POINTS) // (2 * BASIS_POINTS)


def yuan(amount_fen: Fen) -> str:
    """Display form, exact: 12345 -> '123.45'."""
    sign = "-" if amount_fen < 0 else ""
    whole, cents = divmod(abs(amount_fen), 100)
    return f"{sign}{whole}.{cents:02d}"
