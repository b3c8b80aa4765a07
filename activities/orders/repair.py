"""The orders' repair pass as an activity (the logic is services/orders/repair.py, shared with API start)."""

from datetime import timedelta

from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.client import Client

from core.settings import get_settings
from services.orders.repair import repair_orders
from workflows.orders import contract


class OrderRepairActivities:
    def __init__(self, engine: Engine, client: Client) -> None:
        self.engine = engine
        self.client = client

    @activity.defn(name=contract.REPAIR_ORDERS)
    async def repair_orders(self) -> dict:
        grace = timedelta(seconds=get_settings().repair_grace_s)
        return (await repair_orders(self.engine, self.client, grace)).model_dump()
