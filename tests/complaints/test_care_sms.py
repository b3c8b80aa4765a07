"""At most one care SMS (the survey) a month per customer (complaint procedure 8.0.2); answers to the customer's own
complaint are never held. The real SMS activity on the test database."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.complaints.complaint import ComplaintActivities
from core.crypto import fingerprint as msisdn_fingerprint
from core.settings import get_settings
from db.complaints import Complaint, SmsMessage
from domain.complaints.complaint import care_sms_allowed
from domain.msisdn import mask_msisdn
from workflows.complaints.contract import SmsRequest

ONE, TWO = "13600000001", "13600000002"


class Sms:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, message_id: str, to: str, text: str) -> str:
        self.sent.append(message_id)
        return "sent"


def _complaint(s: Session, cid: str, number: str) -> None:
    now = datetime.now(UTC)
    s.add(Complaint(id=cid, idempotency_key=cid, msisdn=number, msisdn_masked=mask_msisdn(number),
                    msisdn_fingerprint=msisdn_fingerprint(number), source="hotline", customer="standard", ctype="billing",
                    receiving_department="complaint_desk", handling_department="complaint_desk", received_at=now,
                    level="3", due_at=now, state="survey"))


@pytest.fixture
def tickets(db):
    with Session(db) as s:
        for cid, number in (("K1", ONE), ("K2", ONE), ("K3", TWO), ("K4", ONE)):
            _complaint(s, cid, number)
        s.commit()
    return db


def _env() -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = env.info.__class__(**{**env.info.__dict__, "current_attempt_scheduled_time": datetime.now(UTC)})
    return env


async def test_a_second_survey_in_the_month_is_held_but_answers_to_the_complaint_are_not(tickets):
    sms = Sms()
    acts = ComplaintActivities(tickets, sms)
    env = _env()
    assert await env.run(acts.send_customer_sms, SmsRequest(message_id="K1-survey-1", complaint_id="K1", kind="survey",
                                                            text="reply 1 or 2")) == "sent"
    with pytest.raises(ApplicationError) as err:
        await env.run(acts.send_customer_sms, SmsRequest(message_id="K2-survey-1", complaint_id="K2", kind="survey",
                                                         text="reply 1 or 2"))
    assert err.value.type == "CareSmsLimit" and err.value.non_retryable and ONE not in str(err.value)
    with Session(tickets) as s:
        assert s.get(SmsMessage, "K2-survey-1").status == "held_care_limit"
    # the same customer's "being handled" SMS and another customer's survey go out
    assert await env.run(acts.send_customer_sms, SmsRequest(message_id="K2-handled-1", complaint_id="K2", kind="handled",
                                                            text="being handled")) == "sent"
    assert await env.run(acts.send_customer_sms, SmsRequest(message_id="K3-survey-1", complaint_id="K3", kind="survey",
                                                            text="reply 1 or 2")) == "sent"
    assert sms.sent == ["K1-survey-1", "K2-handled-1", "K3-survey-1"]


async def test_last_months_survey_does_not_count_and_the_limit_is_a_setting(tickets, monkeypatch):
    with Session(tickets) as s:
        s.add(SmsMessage(message_id="K1-survey-0", complaint_id="K1", kind="survey", to_masked="x", text="t",
                         status="sent", sent_at=datetime.now(UTC) - timedelta(days=40)))
        s.commit()
    acts = ComplaintActivities(tickets, Sms())
    env = _env()
    assert await env.run(acts.send_customer_sms, SmsRequest(message_id="K4-survey-1", complaint_id="K4", kind="survey",
                                                            text="t")) == "sent"
    monkeypatch.setenv("SIMBO_COMPLAINT_CARE_SMS_PER_MONTH", "2")
    get_settings.cache_clear()
    try:
        assert await env.run(acts.send_customer_sms, SmsRequest(message_id="K2-survey-1", complaint_id="K2", kind="survey",
                                                                text="t")) == "sent"
    finally:
        monkeypatch.delenv("SIMBO_COMPLAINT_CARE_SMS_PER_MONTH")
        get_settings.cache_clear()


def test_the_rule():
    assert care_sms_allowed("survey", ["survey"], 0, 1) and not care_sms_allowed("survey", ["survey"], 1, 1)
    assert care_sms_allowed("handled", ["survey"], 5, 1) and care_sms_allowed("fee_credited", ["survey"], 5, 1)
