"""Ops overrides free money only when no serial can still pay (refund rules: overrides), and a model of the channel
under any sequence of answers and ops actions: money out never exceeds the payment, and the books equal what the
channel paid."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain.refunds import (
    CANNOT_PAY,
    LoadedStatement,
    OverrideRefused,
    SerialWord,
    StatementLine,
    evidence_days,
    force_fail_obstacles,
    force_success_obstacle,
    parse_statement_ref,
    statement_closed,
)


def word(serial="S1", outcome="processing", sent="20261201", last=""):
    return SerialWord(serial=serial, outcome=outcome, sent_on=sent, last_sent_on=last or sent)


def stmt(day, closed=True, **lines):
    return LoadedStatement(channel="unionpay", day=day, closed=closed,
                           lines=[StatementLine(serial=s, amount_fen=100, status=v) for s, v in lines.items()])


def test_the_channels_own_decline_or_never_received_settles_a_serial():
    assert force_fail_obstacles([word(outcome="failed"), word("S2", "not_accepted"), word("S3", "reversed")], {}) == []
    [why] = force_fail_obstacles([word(outcome="failed"), word("S2", "unknown")], {})
    assert "S2" in why and "not loaded" in why


def test_a_statement_line_settles_only_when_it_says_failed():
    days = {"20261201": stmt("20261201", S1="failed")}
    assert force_fail_obstacles([word()], days) == []
    for status in ("processing", "success"):
        [why] = force_fail_obstacles([word()], {"20261201": stmt("20261201", S1=status)})
        assert f"says {status}" in why


def test_absence_proves_never_received_only_from_closed_statements_of_every_send_day_and_the_next():
    s = word(sent="20261130", last="20261201")
    assert evidence_days(s) == ["20261130", "20261201", "20261202"]
    complete = {d: stmt(d) for d in evidence_days(s)}
    assert force_fail_obstacles([s], complete) == []
    assert "20261202 not loaded" in force_fail_obstacles([s], {k: v for k, v in complete.items() if k != "20261202"})[0]
    still_open = {**complete, "20261202": stmt("20261202", closed=False)}
    assert "before their day ended" in force_fail_obstacles([s], still_open)[0]
    later_booked = {**complete, "20261202": stmt("20261202", S1="processing")}
    assert "says processing" in force_fail_obstacles([s], later_booked)[0]


def test_force_success_needs_a_success_line_of_this_refund_with_the_same_amount():
    serials = [word(outcome="unknown")]
    st_ = stmt("20261201", S1="success")
    assert force_success_obstacle(serials, st_, parse_statement_ref("unionpay/20261201/S1"), 100) is None
    assert "10000 fen" in force_success_obstacle(serials, st_, parse_statement_ref("unionpay/20261201/S1"), 10_000)
    assert "not a serial of this refund" in force_success_obstacle(serials, st_, parse_statement_ref("unionpay/20261201/S9"), 100)
    assert "statement line" in force_success_obstacle(serials, st_, parse_statement_ref("unionpay/20261201"), 100)
    failed = stmt("20261201", S1="failed")
    assert "says failed" in force_success_obstacle(serials, failed, parse_statement_ref("unionpay/20261201/S1"), 100)


@pytest.mark.parametrize("text", ["", "ST-1", "unionpay/2026-12-01", "unionpay/20261399/S1", "a/b/c/d", "/20261201"])
def test_a_statement_reference_must_name_a_real_day_and_line(text):
    with pytest.raises(OverrideRefused):
        parse_statement_ref(text)


def test_a_day_closes_at_shanghai_midnight():
    assert not statement_closed("20261201", datetime(2026, 12, 1, 15, 59, 59, tzinfo=UTC))
    assert statement_closed("20261201", datetime(2026, 12, 1, 16, 0, tzinfo=UTC))


# ---- the model ----------------------------------------------------------------------------------------------

PAID_FEN = 10_000


class Channel:
    """What the channel really did with each serial: its statement of a day lists every serial it received that
    day, with the status at the time the statement is read."""

    def __init__(self) -> None:
        self.truth: dict[str, str] = {}  # pending / paid / declined / never
        self.received_on: dict[str, int] = {}
        self.amount: dict[str, int] = {}

    def statement(self, day: int, today: int) -> LoadedStatement:
        names = {"pending": "processing", "paid": "success", "declined": "failed"}
        lines = [StatementLine(serial=s, amount_fen=self.amount[s], status=names[t])
                 for s, t in self.truth.items() if t != "never" and self.received_on[s] == day]
        return LoadedStatement(channel="c", day=_day(day), closed=day < today, lines=lines)

    def paid(self) -> int:
        return sum(self.amount[s] for s, t in self.truth.items() if t == "paid")


def _day(n: int) -> str:
    """The n-th day of the run as a statement day: by the calendar, so a long run crosses the month end."""
    return (date(2026, 12, 1) + timedelta(days=n)).strftime("%Y%m%d")


class RefundsAgainstAChannel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.channel = Channel()
        self.today = 0
        self.refunds: list[dict] = []  # {amount, status, serials: [serial]}
        self.word: dict[str, str] = {}  # our record of the channel's last word
        self.sent_on: dict[str, int] = {}
        self.loaded: dict[str, LoadedStatement] = {}
        self.n = 0

    def committed(self) -> int:
        return sum(r["amount"] for r in self.refunds if r["status"] != "failed")

    def _send(self, refund: dict) -> None:
        self.n += 1
        serial = f"S{self.n}"
        refund["serials"].append(serial)
        self.channel.truth[serial] = "pending"
        self.channel.received_on[serial] = self.today
        self.channel.amount[serial] = refund["amount"]
        self.word[serial] = "sending"
        self.sent_on[serial] = self.today

    def _words(self, refund: dict) -> list[SerialWord]:
        return [SerialWord(serial=s, outcome=self.word[s], sent_on=_day(self.sent_on[s])) for s in refund["serials"]]

    @rule(amount=st.integers(1, PAID_FEN))
    def request(self, amount):
        if self.committed() + amount <= PAID_FEN:  # the reservation against the payment
            refund = {"amount": amount, "status": "processing", "serials": []}
            self.refunds.append(refund)
            self._send(refund)

    @precondition(lambda self: any(t == "pending" for t in self.channel.truth.values()))
    @rule(data=st.data(), outcome=st.sampled_from(["paid", "declined", "never"]))
    def channel_decides(self, data, outcome):
        serial = data.draw(st.sampled_from(sorted(s for s, t in self.channel.truth.items() if t == "pending")))
        self.channel.truth[serial] = outcome

    @precondition(lambda self: bool(self.word))
    @rule(data=st.data())
    def we_hear(self, data):
        serial = data.draw(st.sampled_from(sorted(self.word)))
        said = {"pending": "processing", "paid": "success", "declined": "failed", "never": "not_accepted"}
        self.word[serial] = said[self.channel.truth[serial]]
        refund = next(r for r in self.refunds if serial in r["serials"])
        if self.word[serial] == "success" and refund["status"] == "processing":
            refund["status"] = "succeeded"

    @precondition(lambda self: any(r["status"] == "processing" for r in self.refunds))
    @rule(data=st.data())
    def loop_sends_a_new_serial(self, data):
        refund = data.draw(st.sampled_from([r for r in self.refunds if r["status"] == "processing"]))
        if all(self.word[s] in CANNOT_PAY for s in refund["serials"]):  # only after a definitive "cannot pay"
            self._send(refund)

    @rule()
    def a_day_passes(self):
        self.today += 1

    @rule(day=st.integers(0, 6))
    def load_statement(self, day):
        if day <= self.today:
            self.loaded[_day(day)] = self.channel.statement(day, self.today)

    @precondition(lambda self: any(r["status"] == "processing" for r in self.refunds))
    @rule(data=st.data())
    def ops_force_fail(self, data):
        refund = data.draw(st.sampled_from([r for r in self.refunds if r["status"] == "processing"]))
        if not force_fail_obstacles(self._words(refund), self.loaded):
            refund["status"] = "failed"  # the reserved amount is free again

    @precondition(lambda self: any(r["status"] == "processing" for r in self.refunds) and bool(self.loaded))
    @rule(data=st.data())
    def ops_force_success(self, data):
        refund = data.draw(st.sampled_from([r for r in self.refunds if r["status"] == "processing"]))
        day = data.draw(st.sampled_from(sorted(self.loaded)))
        serial = data.draw(st.sampled_from(refund["serials"]))
        ref = parse_statement_ref(f"c/{day}/{serial}")
        if force_success_obstacle(self._words(refund), self.loaded[day], ref, refund["amount"]) is None:
            refund["status"] = "succeeded"

    @invariant()
    def money_out_never_exceeds_the_payment_and_the_reservation_covers_it(self):
        assert self.channel.paid() <= PAID_FEN
        may_pay = sum(self.channel.amount[s] for s, t in self.channel.truth.items() if t in ("paid", "pending"))
        reserved = sum(self.channel.amount[s] for r in self.refunds if r["status"] != "failed" for s in r["serials"]
                       if self.channel.truth[s] in ("paid", "pending"))
        assert may_pay == reserved  # no serial that paid or may pay belongs to a refund whose amount was freed

    @invariant()
    def the_books_never_claim_more_than_the_channel_paid(self):
        assert sum(r["amount"] for r in self.refunds if r["status"] == "succeeded") <= self.channel.paid()

    def teardown(self):
        # once every serial's final word is heard, the books equal what the channel paid
        for serial, truth in self.channel.truth.items():
            if truth == "pending":
                self.channel.truth[serial] = "declined"
        said = {"paid": "success", "declined": "failed", "never": "not_accepted"}
        for refund in self.refunds:
            for s in refund["serials"]:
                self.word[s] = said[self.channel.truth[s]]
                if self.word[s] == "success" and refund["status"] == "processing":
                    refund["status"] = "succeeded"
        assert sum(r["amount"] for r in self.refunds if r["status"] == "succeeded") == self.channel.paid()


RefundsAgainstAChannel.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None,
                                                    suppress_health_check=[HealthCheck.too_slow])
test_refunds_against_a_channel = RefundsAgainstAChannel.TestCase
