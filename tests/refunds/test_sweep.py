"""The sweep's query-backs on the real databases: per-channel backoff, answers signalled, exhaustion."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session
from temporalio.testing import ActivityEnvironment

from activities.refunds import RefundActivities
from db.refunds import Refund, RefundChannel
from domain.refunds import ChannelAnswer, ChannelState
from services import refunds as svc
from tests.fixtures_db import FakeTemporal
from tests.refunds.fixtures import MERCHANT, pay, seed_refund_reference


class FakeGateway:
    def __init__(self, answers: dict[str, ChannelState]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def query(self, channel: str, serial: str) -> ChannelAnswer:
        self.asked.append(serial)
        return ChannelAnswer(state=self.answers[serial], serial=serial, amount_fen=1_000)


def _parked(engine, no: str, serial: str, checks_done: int = 0, due: bool = True) -> str:
    with Session(engine) as s:
        refund, _ = svc.request_refund(s, svc.NewRefund(merchant_id=MERCHANT, merchant_refund_no=no, payment_id="P1",
                                                        amount_fen=1_000, reason="returned"))
        refund.current_serial = serial
        refund.checks_done = checks_done
        refund.next_check_at = datetime.now(UTC) + (timedelta(seconds=-1) if due else timedelta(hours=1))
        s.add(refund)
        s.commit()
        return refund.id


@pytest.fixture
def ref(db):
    seed_refund_reference(db)
    with Session(db) as s:
        ch = s.get(RefundChannel, "unionpay")
        ch.sweep_backoff_s = "60,600"
        s.add(ch)
        s.commit()
    pay(db, "P1")
    return db


async def test_sweep_signals_final_answers_backs_off_and_gives_up(ref):
    done = _parked(ref, "A", "S-DONE")
    still = _parked(ref, "B", "S-STILL")
    last = _parked(ref, "C", "S-LAST", checks_done=1)
    later = _parked(ref, "D", "S-LATER", due=False)
    gateway = FakeGateway({"S-DONE": ChannelState.SUCCESS, "S-STILL": ChannelState.PROCESSING,
                           "S-LAST": ChannelState.PROCESSING, "S-LATER": ChannelState.SUCCESS})
    temporal = FakeTemporal()
    acts = RefundActivities(ref, gateway, client=temporal)  # type: ignore[arg-type]
    out = await ActivityEnvironment().run(acts.sweep_processing_refunds, 50)
    assert (out.checked, out.signalled, out.exhausted) == (3, 2, 1)
    assert sorted(gateway.asked) == ["S-DONE", "S-LAST", "S-STILL"]  # not the one whose check is not due
    signals = {wid: arg for wid, name, arg in temporal.signals if name == "sweep_answer"}
    assert signals[f"refund-{done}"].answer.state == ChannelState.SUCCESS
    assert signals[f"refund-{last}"].exhausted is True
    assert f"refund-{still}" not in signals and f"refund-{later}" not in signals
    with Session(ref) as s:
        r = s.get(Refund, still)
        assert r.checks_done == 1
        wait = r.next_check_at - datetime.now(UTC)
        assert timedelta(seconds=500) < wait <= timedelta(seconds=600)  # the channel's second step
        assert s.get(Refund, last).next_check_at is None and s.get(Refund, done).next_check_at is None
