"""Money is integer fen (1 yuan = 100 fen). Every rounding rule is a named function here."""

Fen = int
BASIS_POINTS = 10_000  # 1 bp = 0.01 %


def ratio_half_up(amount_fen: Fen, numerator: int, denominator: int) -> Fen:
    """amount x numerator / denominator, rounded half up to the fen, in integers only (no float, no Decimal).
    Every operand is non-negative and the denominator positive."""
    if denominator <= 0:
        raise ValueError("a ratio needs a positive denominator")
    if amount_fen < 0 or numerator < 0:
        raise ValueError("a ratio of a negative amount is not defined")
    return (2 * amount_fen * numerator + denominator) // (2 * denominator)


def share_half_up(amount_fen: Fen, basis_points: int) -> Fen:
    """amount x bp / 10000, rounded half up to the fen (the parent's override share)."""
    if basis_points < 0:
        raise ValueError("share of a negative amount or rate is not defined")
    return ratio_half_up(amount_fen, basis_points, BASIS_POINTS)


def yuan(amount_fen: Fen) -> str:
    """Display form, exact: 12345 -> '123.45'."""
    sign = "-" if amount_fen < 0 else ""
    whole, cents = divmod(abs(amount_fen), 100)
    return f"{sign}{whole}.{cents:02d}"
