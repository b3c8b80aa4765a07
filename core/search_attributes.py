"""Custom search attributes ops filter on in the Web UI. Registered by scripts/dev.py and test fixtures.

Never personal data here: search attributes bypass the payload codec.
"""

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.common import SearchAttributeKey

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CARRIER = SearchAttributeKey.for_keyword("Carrier")
AGENT_ID = SearchAttributeKey.for_keyword("AgentId")
SETTLEMENT_MONTH = SearchAttributeKey.for_keyword("SettlementMonth")
FAILURE_REASON = SearchAttributeKey.for_keyword("FailureReason")
REFUND_STATUS = SearchAttributeKey.for_keyword("RefundStatus")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
MERCHANT_ID = SearchAttributeKey.for_keyword("MerchantId")

# Complaint desk: filter by level, handling department, due time (a real datetime: `DueAt < "..."`), state.
COMPLAINT_LEVEL = SearchAttributeKey.for_keyword("ComplaintLevel")
# A list holding the one handling department: SQL visibility (and the dev server) allow 10 Keyword attributes and
# the project has 11; `Department = "billing"` filters a one-element KeywordList exactly like a Keyword.
DEPARTMENT = SearchAttributeKey.for_keyword_list("Department")
DUE_AT = SearchAttributeKey.for_datetime("DueAt")
COMPLAINT_STATE = SearchAttributeKey.for_keyword("ComplaintState")

ALL = (ORDER_STATUS, CARRIER, AGENT_ID, SETTLEMENT_MONTH, FAILURE_REASON,
       REFUND_STATUS, CHANNEL, MERCHANT_ID,
       COMPLAINT_LEVEL, DEPARTMENT, DUE_AT, COMPLAINT_STATE)


def indexed_value_type(key: SearchAttributeKey) -> IndexedValueType.ValueType:
    """The server-side type to register the key with (operator service)."""
    return IndexedValueType.ValueType(int(key.indexed_value_type))


def cli_type(key: SearchAttributeKey) -> str:
    """The type name `temporal server start-dev --search-attribute KEY=TYPE` expects (Keyword, Datetime, ...)."""
    name = IndexedValueType.Name(indexed_value_type(key)).removeprefix("INDEXED_VALUE_TYPE_")
    return {"KEYWORD_LIST": "KeywordList"}.get(name, name.capitalize())
