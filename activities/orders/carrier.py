"""Questions we ask a carrier about one order."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import names
from domain.orders.order import InNetworkAnswer
from gateways.carrier import CarrierGateway, CarrierRejected, CarrierUnavailable
from workflows.orders.contract import InNetworkRequest


class CarrierActivities:
    def __init__(self, gateway: CarrierGateway) -> None:
        self.gateway = gateway

    @activity.defn(name=names.ASK_IN_NETWORK)
    async def ask_in_network(self, req: InNetworkRequest) -> InNetworkAnswer:
        """Condition 5: is the number still in network at the check point? Retried until the carrier answers."""
        try:
            return await self.gateway.number_status(req.carrier, req.order_id)
        except CarrierUnavailable as err:
            raise ApplicationError(str(err), type="CarrierUnavailable") from err
        except CarrierRejected as err:
            # A carrier that does not know the number is an answer in itself: ops see it as a carrier error.
            raise ApplicationError(str(err), type="CarrierRejected", non_retryable=True) from err
