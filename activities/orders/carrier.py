"""Questions we ask a carrier about one order."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.http import PeerRejected, PeerUnavailable
from domain.orders.order import InNetworkAnswer
from gateways.carrier import CarrierGateway
from workflows.orders import contract
from workflows.orders.contract import InNetworkRequest


class CarrierActivities:
    def __init__(self, gateway: CarrierGateway) -> None:
        self.gateway = gateway

    @activity.defn(name=contract.ASK_IN_NETWORK)
    async def ask_in_network(self, req: InNetworkRequest) -> InNetworkAnswer:
        """Condition 5: is the number still in network at the check point? Retried until the carrier answers."""
        try:
            return await self.gateway.number_status(req.carrier, req.order_id)
        except PeerUnavailable as err:
            raise ApplicationError(str(err), type="PeerUnavailable") from err
        except PeerRejected as err:
            # A carrier that does not know the number is an answer in itself: ops see it as a carrier error.
            raise ApplicationError(str(err), type="PeerRejected", non_retryable=True) from err
