"""Activity names of the complaint desk, so workflows refer to activities without importing their I/O."""

RECORD_COMPLAINT = "record_complaint"
COMPUTE_DUE = "compute_complaint_due"
SEND_CUSTOMER_SMS = "send_customer_sms"
NOTIFY_DEPARTMENT = "notify_department"
CHECK_CALENDAR = "check_working_day_calendar"

CREDIT_FEE_RETURN = "credit_fee_return"
SMS_FEE_RETURN_CREDITED = "sms_fee_return_credited"
RECORD_FEE_RETURN = "record_fee_return"
