"""Commission lines for a settled order: the selling agent, plus at most one override to its direct parent."""

from enum import StrEnum

from pydantic import BaseModel

from domain.money import Fen, share_half_up


class Beneficiary(StrEnum):
    AGENT = "agent"
    PARENT_OVERRIDE = "parent_override"


class CommissionLine(BaseModel):
    order_id: str
    agent_id: str
    role: Beneficiary
    amount_fen: Fen


def commission_lines(
    order_id: str, agent_id: str, parent_id: str | None, commission_fen: Fen, parent_override_bp: int
) -> list[CommissionLine]:
    """The override is paid on top of the agent's commission (from the platform's margin), one level only.

    Rounded half up to the fen; a zero override writes no line.
    """
    lines = [CommissionLine(order_id=order_id, agent_id=agent_id, role=Beneficiary.AGENT, amount_fen=commission_fen)]
    override = share_half_up(commission_fen, parent_override_bp) if parent_id else 0
    if override:
        lines.append(
            CommissionLine(order_id=order_id, agent_id=parent_id, role=Beneficiary.PARENT_OVERRIDE, amount_fen=override)
        )
    return lines
