"""Reconciling a carrier's audit with our figures, and which figure is paid (settlement rules 1.10).

For each order of a carrier's batch we compare the commission we expected (the product's figure for an order
that went through the chain to the audit) with the commission the carrier audited. A difference has one cause:

- `rate_change`: the carrier approved the order at another figure than the product's;
- `rejected`: the carrier rejected an order we expected to be paid for (its failure reason is on the order);
- `partial_audit`: the carrier's final audit never named the order (it audited only part of the batch);
- `unknown_order`: the audit names an order we do not know.

Which figure is paid is a policy per carrier (`SIMBO_FINANCE_PAID_FIGURE`, docs/finance.md):
`audited` (the default: the carrier's figure, which is what the carrier pays the platform), `expected` (the
product's figure: the platform absorbs a carrier's rate change) or `lower` (the lower of the two: the platform
never pays more than it receives nor more than it promised). An approved audit row without a figure pays the
expected one. The parent's override share is computed on the figure paid (rounded half up, docs/architecture.md).
"""

from enum import StrEnum

from pydantic import BaseModel

from domain.money import Fen


class PaidFigure(StrEnum):
    AUDITED = "audited"
    EXPECTED = "expected"
    LOWER = "lower"


class DifferenceCause(StrEnum):
    RATE_CHANGE = "rate_change"
    REJECTED = "rejected"
    PARTIAL_AUDIT = "partial_audit"
    UNKNOWN_ORDER = "unknown_order"


DEFAULT_POLICY = PaidFigure.AUDITED


def paid_figure(policy: PaidFigure, expected_fen: Fen, audited_fen: Fen | None) -> Fen:
    """The commission paid for an approved order under the carrier's policy."""
    if audited_fen is None:
        return expected_fen
    if policy is PaidFigure.AUDITED:
        return audited_fen
    if policy is PaidFigure.EXPECTED:
        return expected_fen
    return min(expected_fen, audited_fen)


def policy_for(carrier: str, settings: dict[str, str]) -> PaidFigure:
    return PaidFigure(settings.get(carrier, DEFAULT_POLICY.value))


class AuditFigure(BaseModel):
    """One order as the carrier's audit named it (or did not)."""

    order_id: str
    known: bool  # we have this order
    expected_fen: Fen  # 0 for an order we never expected a commission for
    audited: bool  # the final audit names it
    approved: bool = False
    audited_fen: Fen | None = None


class Difference(BaseModel):
    order_id: str
    cause: DifferenceCause
    expected_fen: Fen
    audited_fen: Fen  # what the carrier's audit grants (0 when rejected or absent)
    paid_fen: Fen  # what we pay the selling agent for it under the policy
    difference_fen: Fen  # audited - expected


def compare(row: AuditFigure, policy: PaidFigure) -> Difference | None:
    """The difference of one order, or None when the audit and our figure agree (or both say nothing is owed)."""
    if not row.known:
        if not row.approved:
            return None  # an unknown order the carrier also refused: nothing owed either way
        granted = row.audited_fen or 0
        return Difference(order_id=row.order_id, cause=DifferenceCause.UNKNOWN_ORDER, expected_fen=0,
                          audited_fen=granted, paid_fen=0, difference_fen=granted)
    if not row.audited:
        return Difference(order_id=row.order_id, cause=DifferenceCause.PARTIAL_AUDIT, expected_fen=row.expected_fen,
                          audited_fen=0, paid_fen=0, difference_fen=-row.expected_fen)
    if not row.approved:
        return Difference(order_id=row.order_id, cause=DifferenceCause.REJECTED, expected_fen=row.expected_fen,
                          audited_fen=0, paid_fen=0, difference_fen=-row.expected_fen)
    granted = row.expected_fen if row.audited_fen is None else row.audited_fen
    if granted == row.expected_fen:
        return None
    return Difference(order_id=row.order_id, cause=DifferenceCause.RATE_CHANGE, expected_fen=row.expected_fen,
                      audited_fen=granted, paid_fen=paid_figure(policy, row.expected_fen, row.audited_fen),
                      difference_fen=granted - row.expected_fen)


class Totals(BaseModel):
    """A batch's money, to the fen: every commission line is paid, held, in a payout exception, or still payable
    (settled after the batch's payout; the next payout of the carrier pays it)."""

    lines_fen: Fen
    paid_fen: Fen
    held_fen: Fen
    exceptions_fen: Fen
    payable_fen: Fen

    @property
    def balanced(self) -> bool:
        return self.lines_fen == self.paid_fen + self.held_fen + self.exceptions_fen + self.payable_fen
