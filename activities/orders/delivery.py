"""Delivery follow-up side effects of the order workflow: the customer's SMS (tracking number, arrival tomorrow)
with the recipient's phone read from the order's sealed customer row here (never from the workflow), the agent's notices
(inbox and webhook, `activities.agents.deliver_notice`), and the stale flag on the order row with its ops alert."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.agents import deliver_notice
from activities.quiet_hours import hold_in_quiet_hours
from core.alerts import raise_once
from core.http import PeerRejected
from db.fulfilment import OrderCustomer
from db.orders import DeliverySms, Order
from domain.msisdn import mask_msisdn
from domain.orders import delivery
from gateways.agents import AgentWebhookGateway
from gateways.sms import SmsGateway
from workflows.agents.contract import Notice
from workflows.orders import contract
from workflows.orders.contract import DeliverySmsRequest, StaleFlag

log = structlog.get_logger()

NO_CONTACT = "no_contact_number"


class DeliveryActivities:
    def __init__(self, engine: Engine, sms: SmsGateway, webhooks: AgentWebhookGateway | None = None) -> None:
        self.engine = engine
        self.sms = sms
        self.webhooks = webhooks

    @activity.defn(name=contract.SEND_DELIVERY_SMS)
    async def send_delivery_sms(self, req: DeliverySmsRequest) -> str:
        """Text the customer once per message id (the gateway dedupes by it too); never 22:00-07:00. An order with
        no contact phone is recorded as such (nothing to send), a refusal by the gateway is final."""
        def read() -> tuple[str | None, str | None]:
            with Session(self.engine) as s:
                if (done := s.get(DeliverySms, req.message_id)) is not None:
                    return done.status, None
                customer = s.get(OrderCustomer, req.order_id)  # the recipient (docs/fulfilment.md), sealed
                return None, customer.recipient_phone if customer else None

        status, phone = await asyncio.to_thread(read)
        if status is not None:
            return status  # sent (or settled) before: a retry texts nobody twice
        if phone:
            hold_in_quiet_hours()
            try:
                status = await self.sms.send(req.message_id, phone, req.text)
            except PeerRejected as err:
                status = "refused"
                log.error("delivery SMS refused by the gateway", order_id=req.order_id, kind=req.kind,
                          error=err.reason)
        else:
            status = NO_CONTACT

        def store() -> None:
            with Session(self.engine) as s:
                s.merge(DeliverySms(message_id=req.message_id, order_id=req.order_id, kind=req.kind,
                                    to_masked=mask_msisdn(phone) if phone else "", text=req.text, status=status))
                s.commit()

        await asyncio.to_thread(store)
        log.info("delivery SMS", order_id=req.order_id, kind=req.kind, status=status,
                 to=mask_msisdn(phone) if phone else None, workflow_id=activity.info().workflow_id)
        return status

    @activity.defn(name=contract.NOTIFY_AGENT_OF_ORDER)
    async def notify_agent_of_order(self, notice: Notice) -> None:
        await deliver_notice(self.engine, self.webhooks, notice)

    @activity.defn(name=contract.RECORD_STALENESS)
    async def record_staleness(self, flag: StaleFlag) -> None:
        """The order row says whether and why it is stale; a new flag tells ops (one alert per order, reason and
        window) and the agent (inbox and webhook)."""
        if flag.reason is not None and flag.since is None:
            raise ApplicationError("a stale flag needs its since", type="BadStaleFlag", non_retryable=True)

        def store() -> None:
            with Session(self.engine) as s:
                s.exec(update(Order).where(Order.id == flag.order_id).values(
                    stale_reason=flag.reason.value if flag.reason else None, stale_since=flag.since,
                    updated_at=datetime.now(UTC)))
                if flag.reason is not None:
                    key = f"order-stale-{flag.order_id}-{flag.reason.value}-{flag.since.isoformat() if flag.since else ''}"
                    raise_once(s, key, "order_stale",
                               delivery.stale_notice(flag.order_id, flag.msisdn_masked, flag.reason, flag.since))
                s.commit()

        await asyncio.to_thread(store)
        log.warning("order stale" if flag.reason else "order has news again", order_id=flag.order_id,
                    agent_id=flag.agent_id, reason=flag.reason.value if flag.reason else None)
        if flag.reason is not None and flag.since is not None:
            await deliver_notice(self.engine, self.webhooks, Notice(
                key=f"order-stale-{flag.order_id}-{flag.reason.value}-{flag.since.isoformat()}", agent_id=flag.agent_id,
                kind="order_stale", text=delivery.stale_notice(flag.order_id, flag.msisdn_masked, flag.reason,
                                                               flag.since)))
