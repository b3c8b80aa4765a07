"""Custom search attributes ops filter on in the Web UI. Registered by scripts/dev.py and test fixtures.

Never personal data here: search attributes bypass the payload codec.
"""

from temporalio.common import SearchAttributeKey

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CARRIER = SearchAttributeKey.for_keyword("Carrier")
AGENT_ID = SearchAttributeKey.for_keyword("AgentId")
SETTLEMENT_MONTH = SearchAttributeKey.for_keyword("SettlementMonth")
FAILURE_REASON = SearchAttributeKey.for_keyword("FailureReason")
REFUND_STATUS = SearchAttributeKey.for_keyword("RefundStatus")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
MERCHANT_ID = SearchAttributeKey.for_keyword("MerchantId")

ALL = (ORDER_STATUS, CARRIER, AGENT_ID, SETTLEMENT_MONTH, FAILURE_REASON, REFUND_STATUS, CHANNEL, MERCHANT_ID)
