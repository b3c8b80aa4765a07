"""Quiet hours for every customer SMS an activity sends (complaint desk, account cancellation): one home."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.clock import customer_sms_time


def hold_in_quiet_hours() -> None:
    """No SMS reaches a customer 22:00-07:00 (complaint procedure 8.0). The workflow picks the hour of the first attempt; a
    retry the server scheduled in the night is put off until 07:00 here. Server time, not this machine's: it is
    the workflow's clock."""
    info = activity.info()
    scheduled = info.current_attempt_scheduled_time
    allowed = customer_sms_time(scheduled)
    if info.attempt > 1 and allowed > scheduled:
        raise ApplicationError(f"quiet hours: customer SMS waits until {allowed.isoformat()}", type="QuietHours",
                               next_retry_delay=allowed - scheduled)
