"""The orders business's HTTP door, as one router: orders, carrier and courier pushes, settlement batches and
agent statements."""

from fastapi import APIRouter

from api.orders import carrier_events, delivery, orders, settlements, stock

router = APIRouter()
# delivery first: its /orders/tracking, /orders/kpis, /orders/stale come before /orders/{order_id}
for part in (delivery.router, delivery.tasks, orders.router, carrier_events.router, settlements.router,
             settlements.agent_statements, stock.router):
    router.include_router(part)
