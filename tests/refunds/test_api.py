"""The refund API on SQLite and PostgreSQL, with a fake Temporal client (the real one: tests/refunds/test_end_to_end.py)."""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import Session
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from services import identity
from tests.fixtures_db import FakeHandle, FakeTemporal
from tests.refunds.fixtures import MERCHANT, seed_refund_reference


class UpdatingHandle(FakeHandle):
    async def execute_update(self, update: str, arg: Any = None, **kw: Any) -> str:
        self.fake.updates.append((self.id, update, arg))
        outcome = self.fake.update_outcome
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class RefundTemporal(FakeTemporal):
    def __init__(self) -> None:
        super().__init__()
        self.updates: list = []
        self.update_outcome: Any = "processing"

    def get_workflow_handle(self, workflow_id: str, **kw: Any) -> UpdatingHandle:
        return UpdatingHandle(self, workflow_id)


@pytest.fixture
def fake_temporal() -> RefundTemporal:
    return RefundTemporal()


@pytest.fixture
def api(api_client, db):
    """The admin's client; refunds are asked for as the merchant does, with its API key (`as_merchant`)."""
    seed_refund_reference(db)
    with Session(db) as s:
        api_client.as_merchant = {"Authorization": "", "X-Api-Key": identity.create_api_key(s, MERCHANT, "test")[1]}
    return api_client


def _payment(api, pid="P1", **kw):
    body = {"id": pid, "merchant_id": MERCHANT, "merchant_order_no": f"ORD-{pid}", "channel": "unionpay",
            "product": "quick", "paid_fen": 10_000, "fee_fen": 50, "consumer_card_masked": "6222****1234", **kw}
    return api.post("/payments", json=body)


def _refund(api, no="R-1", pid="P1", amount=4_000, **kw):
    body = {"merchant_id": MERCHANT, "merchant_refund_no": no, "payment_id": pid, "amount_fen": amount,
            "reason": "customer returned one pair of shoes", "callback_url": "http://merchant.example/cb", **kw}
    return api.post("/refunds", json=body, headers=api.as_merchant)


def test_payment_is_recorded_once(api):
    assert _payment(api).status_code == 201
    again = _payment(api)
    assert again.status_code == 200 and again.json()["remaining_fen"] == 10_000
    assert _payment(api, paid_fen=9_999).status_code == 409
    r = _payment(api, "P9", merchant_id="NOPE")
    assert r.status_code == 422 and "unknown merchant" in r.json()["reason"]
    assert _payment(api, "P8", consumer_card_masked="6222021234567890123x").status_code == 422


def test_refund_is_accepted_started_once_and_refused_beyond_the_remaining_amount(api, fake_temporal):
    _payment(api)
    first = _refund(api)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["status"], body["fee_back_fen"], body["merchant_debit_fen"]) == ("processing", 20, 3_980)
    again = _refund(api)
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    starts = fake_temporal.starts_of(f"refund-{body['id']}")
    assert len(starts) == 2 and starts[0]["workflow"] == "Refund"  # the repeat only ensures the same workflow
    inp = starts[0]["arg"]
    assert (inp.refund_id, inp.amount_fen, inp.audit_reasons, inp.notify) == (body["id"], 4_000, [], True)
    sa = {p.key.name: p.value for p in starts[0]["search_attributes"]}
    assert sa == {"RefundStatus": "processing", "Channel": "unionpay", "MerchantId": MERCHANT}

    assert _refund(api, "R-1", amount=4_001).status_code == 409
    too_much = _refund(api, "R-2", amount=6_001)
    assert too_much.status_code == 422
    assert "exceeds the remaining refundable amount 60.00" in too_much.json()["reason"]
    assert _refund(api, "R-3", amount=6_000).status_code == 201
    assert _refund(api, "R-4", pid="P-NONE").status_code == 404
    assert api.get("/payments/P1").json()["remaining_fen"] == 0


def test_refund_stored_but_temporal_down_answers_503_and_a_retry_starts_it(api, fake_temporal):
    _payment(api)
    fake_temporal.unavailable = True
    r = _refund(api)
    assert r.status_code == 503 and "send the same refund number again" in r.json()["reason"]
    fake_temporal.unavailable = False
    assert _refund(api).status_code == 200
    assert len(fake_temporal.started) == 1


def test_batch_accepts_and_refuses_each_refund_on_its_own(api):
    _payment(api)
    items = [{"merchant_id": MERCHANT, "merchant_refund_no": f"B-{i}", "payment_id": "P1", "amount_fen": 3_000,
              "reason": "flash sale cancelled"} for i in range(4)]
    r = api.post("/refunds/batch", json={"refunds": items}, headers=api.as_merchant)
    assert r.status_code == 200
    out = r.json()
    assert (out["accepted"], out["refused"]) == (3, 1)
    assert [i["http_status"] for i in out["items"]] == [201, 201, 201, 422]
    assert "exceeds" in out["items"][3]["reason"]
    assert api.post("/refunds/batch", json={"refunds": []}, headers=api.as_merchant).status_code == 422


def test_query_one_with_history_and_list_with_filters(api, fake_temporal):
    _payment(api)
    _payment(api, "P2", channel="manualpay")
    rid = _refund(api).json()["id"]
    audited = _refund(api, "R-2", pid="P2", amount=100).json()
    assert audited["status"] == "awaiting_audit"
    detail = api.get(f"/refunds/{rid}").json()
    assert detail["history"][0]["kind"] == "requested" and detail["payment_remaining_fen"] == 6_000
    assert detail["failure_reason"] == "" and detail["serials"] == []
    assert detail["live"] is None and "not found" in detail["live_error"]
    from workflows.refunds.contract import RefundView

    fake_temporal.views[f"refund-{rid}"] = RefundView(refund_id=rid, status="processing", phase="query",
                                                      route="channel", serial="S1", serials_used=1,
                                                      waiting_for="query-back of serial S1 in 5s", manual_reason="")
    live = api.get(f"/refunds/{rid}").json()["live"]
    assert live["phase"] == "query" and live["waiting_for"].startswith("query-back")
    audit_detail = api.get(f"/refunds/{audited['id']}").json()
    assert audit_detail["audit_reasons"] == ["automatic audit is switched off for this channel"]
    assert api.get("/refunds/NOPE").status_code == 404
    page = api.get("/refunds", params={"status": "awaiting_audit"}).json()
    assert page["total"] == 1 and page["items"][0]["id"] == audited["id"]
    assert api.get("/refunds", params={"channel": "unionpay", "merchant_id": MERCHANT}).json()["total"] == 1
    assert api.get("/refunds", params={"status": "bogus"}).status_code == 422
    assert api.get("/refunds", params={"created_from": "2026-01-01T00:00:00"}).status_code == 422
    assert api.get("/refunds", params={"created_from": "2020-01-01T00:00:00+08:00"}).json()["total"] == 2


def test_ops_actions_go_to_the_workflow_and_its_refusals_become_http_errors(api, fake_temporal):
    _payment(api)
    rid = _refund(api).json()["id"]
    body = {"reason": "statement shows success", "statement_ref": "STMT-1"}
    invented = api.post(f"/refunds/{rid}/force_success", json=body)
    assert invented.status_code == 409 and invented.json()["type"] == "statement_ref_malformed"
    assert fake_temporal.updates == []  # refused before it reaches the workflow: no money moves on a guess
    r = api.post(f"/refunds/{rid}/retry_new_serial", json=body)
    assert r.status_code == 200 and r.json()["status"] == "processing"
    assert fake_temporal.updates[-1][:2] == (f"refund-{rid}", "retry_new_serial")
    fake_temporal.update_outcome = WorkflowUpdateFailedError(
        ApplicationError("the auditor must not be the person who requested the refund", type="FourEyes"))
    r = api.post(f"/refunds/{rid}/approve", json=body)
    assert r.status_code == 403 and "must not be the person" in r.json()["reason"]
    assert r.json()["type"] == "FourEyes"  # the workflow's own refusal type reaches the caller
    fake_temporal.update_outcome = WorkflowUpdateFailedError(ApplicationError("need statement", type="StatementRequired"))
    r = api.post(f"/refunds/{rid}/retry_new_serial", json=body)
    assert (r.status_code, r.json()["type"]) == (422, "StatementRequired")
    assert api.post(f"/refunds/{rid}/explode", json=body).status_code == 404
    assert api.post(f"/refunds/{rid}/approve", json={"reason": ""}).status_code == 422


def test_exception_payment_refunds_automatically(api, fake_temporal):
    _payment(api, "P1", merchant_order_no="ORDER-7")
    dup = _payment(api, "P2", merchant_order_no="ORDER-7")
    assert dup.status_code == 201 and dup.json()["exception"] == "duplicate_payment"
    auto = dup.json()["auto_refund_id"]
    assert auto and fake_temporal.starts_of(f"refund-{auto}")
    detail = api.get(f"/refunds/{auto}").json()
    assert detail["source"] == "exception_duplicate_payment" and detail["amount_fen"] == 10_000


def test_channel_switch_and_error_mappings(api):
    r = api.put("/refund-channels/unionpay/auto-audit", json={"enabled": False, "reason": "incident"})
    assert r.status_code == 200 and r.json()["auto_audit"] is False
    assert api.get("/refund-channels/unionpay/switches").json()[0]["actor"] == "test-admin"  # the signed-in caller, not a typed name
    assert api.put("/refund-channels/nope/auto-audit", json={"enabled": False, "reason": "abc"}).status_code == 404
    _payment(api)
    assert _refund(api).json()["status"] == "awaiting_audit"

    mapping = {"channel": "unionpay", "raw_code": "CARD_VOID", "internal_code": "card_void_check",
               "merchant_message": "We check the card with the bank.", "action": "manual"}
    assert api.put("/refund-error-mappings", json=mapping).status_code == 201
    assert api.put("/refund-error-mappings", json={**mapping, "action": "fail_final"}).status_code == 200
    rows = api.get("/refund-error-mappings", params={"channel": "unionpay"}).json()
    ops = [m for m in rows if m["source"] == "ops"]
    assert len(ops) == 1 and ops[0]["action"] == "fail_final"
    assert any(m["source"] == "built_in" and m["raw_code"] == "CARD_VOID" and m["overridden"] for m in rows)
    assert api.put("/refund-error-mappings", json={**mapping, "channel": "nope"}).status_code == 422
    assert api.put("/refund-error-mappings", json={**mapping, "action": "loop_forever"}).status_code == 422


class FakeStatementGateway:
    def __init__(self, lines):
        self.lines = lines

    async def statement(self, channel: str, day: str) -> list[dict]:
        return self.lines


def test_statement_reconciliation_lists_what_disagrees(api, api_app, db):
    from sqlmodel import Session

    from api.refunds.routes import get_channel_gateway
    from db.refunds import RefundSerial

    _payment(api)
    rid = _refund(api, amount=1_000).json()["id"]
    rid2 = _refund(api, "R-2", amount=1_000).json()["id"]
    with Session(db) as s:
        s.add(RefundSerial(serial="S-PENDING", refund_id=rid, seq=1, route="channel", sends=1, outcome="processing"))
        s.add(RefundSerial(serial="S-AGREED", refund_id=rid2, seq=1, route="channel", sends=1, outcome="failed"))
        s.commit()
    api_app.dependency_overrides[get_channel_gateway] = lambda: FakeStatementGateway([
        {"serial": "S-PENDING", "refund_id": rid, "amount_fen": 1_000, "status": "success"},
        {"serial": "S-AGREED", "refund_id": rid2, "amount_fen": 1_000, "status": "failed"},
        {"serial": "S-STRANGER", "refund_id": "RX", "amount_fen": 500, "status": "success"},
    ])
    r = api.get("/refund-channels/unionpay/statements/20261125/reconciliation")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["lines"] == 3
    assert [(d["serial"], d["our_outcome"], d["refund_status"]) for d in out["disagreements"]] == [
        ("S-PENDING", "processing", "processing"), ("S-STRANGER", None, None)]
    assert out["loaded"] is False and out["closed"] is None
    assert api.get("/refund-channels/unionpay/statements/2026-11-25/reconciliation").status_code == 422
    for bad in ("20261399", "29991231"):
        r = api.post(f"/refund-channels/unionpay/statements/{bad}")
        assert r.status_code == 400 and r.json()["type"] in ("statement_day_invalid", "statement_day_in_future"), r.text
    assert api.post("/refund-channels/nochannel/statements/20261125").status_code == 404

    # loaded, the statement is evidence: a success line forces success; a force fail against it is refused
    loaded = api.post("/refund-channels/unionpay/statements/20261125").json()
    assert loaded["loaded"] is True and loaded["closed"] is True and loaded["statement_ref"] == "unionpay/20261125"
    line = next(d["statement_ref"] for d in loaded["disagreements"] if d["serial"] == "S-PENDING")
    refused = api.post(f"/refunds/{rid}/force_fail", json={"reason": "give up", "statement_ref": line})
    assert refused.status_code == 409 and refused.json()["type"] == "statement_of_other_refund", refused.text
    with Session(db) as s:  # sent on the statement's day
        serial = s.get(RefundSerial, "S-PENDING")
        serial.created_at = serial.updated_at = datetime(2026, 11, 25, 4, tzinfo=UTC)
        s.add(serial)
        s.commit()
    refused = api.post(f"/refunds/{rid}/force_fail", json={"reason": "give up", "statement_ref": line})
    assert refused.status_code == 409 and refused.json()["type"] == "serial_may_still_pay"
    assert "says success" in refused.json()["reason"]
    other = api.post(f"/refunds/{rid2}/force_success", json={"reason": "paid", "statement_ref": line})
    assert other.status_code == 409 and "not a serial of this refund" in other.json()["reason"]
    ok = api.post(f"/refunds/{rid}/force_success", json={"reason": "statement shows success", "statement_ref": line})
    assert ok.status_code == 200, ok.text
