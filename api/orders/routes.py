"""The orders business's HTTP door, as one router: orders, carrier and courier pushes, settlement batches."""

from fastapi import APIRouter

from api.orders import carrier_events, orders, settlements

router = APIRouter()
for part in (orders, carrier_events, settlements):
    router.include_router(part.router)
