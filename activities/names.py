"""Activity names, so workflows refer to activities without importing their I/O-laden modules."""

RECORD_ORDER_PROGRESS = "record_order_progress"
ASK_IN_NETWORK = "ask_in_network"
OPEN_RESCUE_TASK = "open_rescue_task"
REMIND_RESCUE = "remind_rescue"
RESOLVE_RESCUE = "resolve_rescue"

OPEN_BATCH = "open_batch"
SETTLE_AUDIT_PAGE = "settle_audit_page"
FAIL_UNAUDITED_ORDERS = "fail_unaudited_orders"
BUILD_STATEMENTS = "build_statements"
PAY_AGENTS = "pay_agents"
CLOSE_BATCH = "close_batch"
