"""Who may do what: every role and every permission, in one table.

Each route declares the one permission it needs (`api.deps.require`); a person or a merchant holds the
permissions of their roles. Scoping (an agent sees only its own orders, a merchant only its own payments)
and separation of duties (the auditor is not the requester) are checked by the services with the caller's
identity, which always comes from the token or the API key, never from the request body.
"""

from dataclasses import dataclass, field
from enum import StrEnum


class Permission(StrEnum):
    ORDERS_PLACE = "orders.place"
    ORDERS_READ = "orders.read"
    ORDERS_RESCUE = "orders.rescue"  # work a delivery rescue task: record contact attempts, close it
    CARRIER_EVENTS_READ = "carrier_events.read"
    SETTLEMENTS_READ = "settlements.read"
    STATEMENTS_READ = "statements.read"
    AGENTS_READ = "agents.read"
    AGENTS_MANAGE = "agents.manage"  # suspend, reinstate
    AGENTS_APPEAL = "agents.appeal"
    AGENTS_ANSWER_APPEALS = "agents.answer_appeals"  # uphold or reinstate, with the written reply
    AGENTS_ARREARS = "agents.arrears"  # finance reports an agent's arrears paid
    MAINTENANCE_MANAGE = "maintenance.manage"  # announce, move, cancel a platform maintenance window
    COMPLAINTS_REGISTER = "complaints.register"
    COMPLAINTS_READ = "complaints.read"
    COMPLAINTS_HANDLE = "complaints.handle"  # accept, transfer, findings, reply, customer's acceptance
    COMPLAINTS_ESCALATE = "complaints.escalate"
    COMPLAINTS_CORRECT_LEVEL = "complaints.correct_level"
    CALENDAR_MANAGE = "calendar.manage"  # load a year's official working-day schedule
    FEE_RETURNS_REQUEST = "fee_returns.request"
    FEE_RETURNS_APPROVE = "fee_returns.approve"  # the tier still decides who may approve how much
    FEE_RETURNS_AUDIT = "fee_returns.audit"
    FEE_RETURNS_VERIFY = "fee_returns.verify"  # a value-added fault confirmed later
    FEE_RETURNS_CREDIT = "fee_returns.credit"  # ask the billing system again
    PAYMENTS_RECORD = "payments.record"  # the acquiring side's integration (admin or a service account) only
    PAYMENTS_READ = "payments.read"
    REFUNDS_REQUEST = "refunds.request"
    REFUNDS_READ = "refunds.read"
    REFUNDS_ACT = "refunds.act"  # the ops-action route; each action then needs one of the two below
    REFUNDS_AUDIT = "refunds.audit"  # approve, reject, mark succeeded offline (pre-debit channels)
    REFUNDS_OVERRIDE = "refunds.override"  # force success / fail, retry with a new serial
    CHANNELS_READ = "channels.read"
    CHANNELS_CONFIGURE = "channels.configure"  # the emergency auto-audit switch, the error table
    RECONCILIATION_READ = "reconciliation.read"
    CANCELLATIONS_REQUEST = "cancellations.request"  # start, appointment, confirm, withdraw, clear through the carrier
    CANCELLATIONS_READ = "cancellations.read"
    CANCELLATIONS_HANDLE = "cancellations.handle"  # a clerk: review documents, clear with evidence, follow-up calls
    PAYOUTS_RESOLVE = "payouts.resolve"  # finance: retry a payout exception, record a manual payment
    INVOICES_REQUEST = "invoices.request"  # an agent, for its own settled statements
    INVOICES_READ = "invoices.read"
    INVOICES_ISSUE = "invoices.issue"  # finance: issue, refuse, re-issue, mail again
    AUDIT_READ = "audit.read"
    API_KEYS_MANAGE = "api_keys.manage"
    IDENTITY_READ = "identity.read"  # /me
    STOCK_READ = "stock.read"  # the numbers one may choose, stock levels
    STOCK_MANAGE = "stock.manage"  # import numbers, low-stock alerts, the stock report
    # Full numbers, names, ID numbers, addresses and typed free text: revealed in API answers and decoded for the
    # Temporal Web UI (the codec server), each time on the audit log. Without it a person sees masked values.
    CUSTOMER_DATA_READ = "customer_data.read"


class Role(StrEnum):
    ADMIN = "admin"
    OPS = "ops"
    AUDITOR = "auditor"
    FINANCE = "finance"
    COMPLAINT_HANDLER = "complaint_handler"  # acts for one department (the user's department)
    TEAM_LEAD = "team_lead"  # fee-return tier 2
    MANAGER = "manager"  # fee-return tier 3
    READ_ONLY = "read_only"
    AGENT = "agent"  # an agent (distributor): its own orders, statements, appeals
    MERCHANT = "merchant"  # a merchant's system, by API key: its own payments and refunds
    SERVICE_CLERK = "service_clerk"  # a service hall's counter: account cancellations
    SELF_SERVICE = "self_service"  # the customers' self-service app (a service account): acts for the customer it verified


P = Permission
_READ_BACK_OFFICE = {P.ORDERS_READ, P.CARRIER_EVENTS_READ, P.SETTLEMENTS_READ, P.STATEMENTS_READ, P.AGENTS_READ,
                     P.COMPLAINTS_READ, P.PAYMENTS_READ, P.REFUNDS_READ, P.CHANNELS_READ, P.IDENTITY_READ,
                     P.CANCELLATIONS_READ, P.INVOICES_READ, P.STOCK_READ}
# the desk calls and texts the customer back, so it reads the number and what the customer said
_COMPLAINT_DESK = {P.COMPLAINTS_REGISTER, P.COMPLAINTS_READ, P.COMPLAINTS_HANDLE, P.FEE_RETURNS_REQUEST,
                   P.IDENTITY_READ, P.CUSTOMER_DATA_READ}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPS: frozenset(_READ_BACK_OFFICE | {
        P.ORDERS_PLACE, P.ORDERS_RESCUE, P.AGENTS_MANAGE, P.AGENTS_APPEAL, P.COMPLAINTS_REGISTER, P.COMPLAINTS_ESCALATE,
        P.CALENDAR_MANAGE, P.FEE_RETURNS_CREDIT, P.REFUNDS_REQUEST, P.REFUNDS_ACT,
        P.REFUNDS_OVERRIDE, P.CHANNELS_CONFIGURE, P.RECONCILIATION_READ,
        P.CUSTOMER_DATA_READ, P.STOCK_MANAGE}),  # merchants' keys: admin only
    Role.AUDITOR: frozenset(_READ_BACK_OFFICE | {
        P.REFUNDS_ACT, P.REFUNDS_AUDIT, P.FEE_RETURNS_AUDIT, P.RECONCILIATION_READ, P.AUDIT_READ}),
    Role.FINANCE: frozenset({P.SETTLEMENTS_READ, P.STATEMENTS_READ, P.AGENTS_READ, P.PAYMENTS_READ, P.REFUNDS_READ,
                             P.CHANNELS_READ, P.RECONCILIATION_READ, P.IDENTITY_READ, P.AGENTS_ARREARS,
                             P.PAYOUTS_RESOLVE, P.INVOICES_READ, P.INVOICES_ISSUE}),
    Role.COMPLAINT_HANDLER: frozenset(_COMPLAINT_DESK),
    Role.TEAM_LEAD: frozenset(_COMPLAINT_DESK | {P.COMPLAINTS_ESCALATE, P.COMPLAINTS_CORRECT_LEVEL,
                                                 P.FEE_RETURNS_APPROVE, P.FEE_RETURNS_VERIFY}),
    Role.MANAGER: frozenset(_COMPLAINT_DESK | {P.COMPLAINTS_ESCALATE, P.COMPLAINTS_CORRECT_LEVEL,
                                               P.FEE_RETURNS_APPROVE, P.FEE_RETURNS_VERIFY}),
    Role.READ_ONLY: frozenset(_READ_BACK_OFFICE),
    Role.AGENT: frozenset({P.ORDERS_PLACE, P.ORDERS_READ, P.ORDERS_RESCUE, P.STATEMENTS_READ, P.AGENTS_READ,
                           P.AGENTS_APPEAL, P.IDENTITY_READ, P.INVOICES_REQUEST, P.INVOICES_READ, P.STOCK_READ}),
    # payments are recorded by the acquiring side (ops, a service account), never by the merchant who refunds them
    Role.MERCHANT: frozenset({P.PAYMENTS_READ, P.REFUNDS_REQUEST, P.REFUNDS_READ, P.IDENTITY_READ}),
    Role.SERVICE_CLERK: frozenset({P.CANCELLATIONS_REQUEST, P.CANCELLATIONS_READ, P.CANCELLATIONS_HANDLE,
                                   P.IDENTITY_READ}),
    # sees only the cancellations it started (the service checks), never clears with evidence
    Role.SELF_SERVICE: frozenset({P.CANCELLATIONS_REQUEST, P.CANCELLATIONS_READ, P.IDENTITY_READ}),
}
del P


def permissions_of(roles: frozenset[Role] | set[Role]) -> frozenset[Permission]:
    return frozenset().union(*(ROLE_PERMISSIONS[r] for r in roles)) if roles else frozenset()


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a staff member or an agent (token), or a merchant's system (API key)."""

    id: str  # user name, or "merchant:<id>" for an API key
    roles: frozenset[Role]
    department: str | None = None  # a complaint handler's department
    agent_id: str | None = None  # set for agents: they see only their own records
    merchant_id: str | None = None  # set for merchants: they see only their own payments and refunds
    permissions: frozenset[Permission] = field(default=frozenset())

    def __post_init__(self) -> None:
        if not self.permissions:
            object.__setattr__(self, "permissions", permissions_of(self.roles))

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def role_names(self) -> str:
        return ",".join(sorted(self.roles))
