"""Payloads that cross the workflow boundary (inputs, signals, queries, activity arguments)."""

from datetime import datetime

from pydantic import AwareDatetime, BaseModel

from domain.orders.order import AuditResult, OrderFacts, ProductTerms, Verdict


class OrderInput(BaseModel):
    order_id: str
    agent_id: str
    carrier: str
    terms: ProductTerms
    msisdn_masked: str
    msisdn_fingerprint: str
    placed_at: AwareDatetime


class OrderProgress(BaseModel):
    """What the order projection in the database should now say; a settled order also brings its commission."""

    order_id: str
    verdict: Verdict
    agent_id: str = ""
    carrier: str = ""
    commission_fen: int | None = None
    parent_override_bp: int = 0


class OrderView(BaseModel):
    """The query answer: the five-condition checklist, what it waits for and until when."""

    order_id: str
    verdict: Verdict
    facts: OrderFacts
    events_seen: int


class InNetworkRequest(BaseModel):
    carrier: str
    order_id: str
    at: datetime


class RescueRequest(BaseModel):
    order_id: str
    agent_id: str
    exception_event_id: str
    kind: str


class SettlementInput(BaseModel):
    carrier: str
    month: str  # yyyymm: the month whose end is the check point of the orders in this batch
    page_token: str | None = None
    pages_applied: int = 0
    settled: int = 0
    failed: int = 0


class AuditPageRequest(BaseModel):
    carrier: str
    month: str
    page_token: str | None = None


class AuditPageOutcome(BaseModel):
    """What one page of the carrier's audit did; the rows themselves never enter the batch history."""

    ready: bool
    next_page_token: str | None = None
    settled: int = 0
    failed: int = 0


class BatchRef(BaseModel):
    carrier: str
    month: str

    @property
    def batch_id(self) -> str:
        return f"settlement-{self.carrier}-{self.month}"


class BatchSummary(BaseModel):
    batch_id: str
    pages: int
    settled: int
    failed: int
    unaudited: int
    statements: int
    paid_fen: int
    held_fen: int


__all__ = ["AuditResult"]
