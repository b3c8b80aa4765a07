"""The orders business's HTTP door, as one router: orders, carrier and courier pushes, settlement batches and
agent statements."""

from fastapi import APIRouter

from api.orders import carrier_events, orders, settlements, stock

router = APIRouter()
for part in (orders.router, carrier_events.router, settlements.router, settlements.agent_statements, stock.router):
    router.include_router(part)
