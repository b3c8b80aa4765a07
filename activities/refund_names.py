"""Refund activity names, so the refund workflows refer to activities without importing their I/O."""

RECORD_REFUND_PROGRESS = "record_refund_progress"
RECORD_SERIAL = "record_refund_serial"
SEND_REFUND = "send_refund"
QUERY_REFUND = "query_refund"
TRANSLATE_CODE = "translate_channel_code"
NOTIFY_MERCHANT = "notify_merchant"
SWEEP_PROCESSING = "sweep_processing_refunds"
