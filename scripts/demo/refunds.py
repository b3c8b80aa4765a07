"""Refund demo data, loaded once by `make run`: channels, merchants, payments and refunds in every state.

Everything goes through the real doors: payment scripts on the payment-channel simulator, payments and
refunds through our API, ops actions through our API (which updates the refund workflows).
"""

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.settings import get_settings
from db.refunds import Merchant, MerchantProduct, Payment, RefundChannel
from domain.clock import SHANGHAI
from scripts.demo.state import already_loaded, mark_loaded
from scripts.users import merchant_key_headers, staff_headers

CHANNELS = [
    RefundChannel(id="unionpay", name="UnionPay", cost_mode="proportional"),
    RefundChannel(id="wechat", name="WeChat Pay", cost_mode="none"),
    # a shaky channel: reverses refunds within a minute, and the sweep gives up on it fast
    RefundChannel(id="flakybank", name="Flaky Bank", sweep_backoff_s="5,10", reversal_watch_s=20),
    RefundChannel(id="manualbank", name="Manual-audit Bank", auto_audit=False),
    RefundChannel(id="predebit", name="Pre-debit Bank", pre_debit=True),
    RefundChannel(id="quickpay", name="QuickPay (no refund API)", has_refund_api=False, cost_mode="none"),
]
MERCHANT_PRODUCTS = [
    MerchantProduct(merchant_id="M001", product="quick", fee_mode="proportional"),
    MerchantProduct(merchant_id="M001", product="wechat_mp", fee_mode="fixed", fixed_fee_fen=30),
    MerchantProduct(merchant_id="M002", product="quick", fee_mode="none"),
]


def seed_refund_catalogue(engine: Engine) -> None:
    secret = get_settings().merchant_notify_secret
    merchants = [Merchant(id="M001", name="Sneaker Shop", notify_secret=secret),
                 Merchant(id="M002", name="Flash-sale Mall", notify_secret=secret)]
    with Session(engine) as s:
        for row in [*CHANNELS, *merchants]:
            if s.get(type(row), row.id) is None:
                s.add(type(row)(**row.model_dump(exclude_none=True)))  # a fresh instance: constants stay detached
        s.flush()
        for mp in MERCHANT_PRODUCTS:
            if s.get(MerchantProduct, (mp.merchant_id, mp.product)) is None:
                s.add(MerchantProduct(**mp.model_dump()))
        s.commit()


# (key, channel, behaviour, paid, fee, refunds, wallet, what ops do, the state it shows)
PLAN = [
    ("ok", "unionpay", "ok", 10_000, 50, [3_000, 2_000], None, None, "succeeded (two partial refunds)"),
    ("freq", "unionpay", "too_frequent", 20_000, 80, [20_000], None, None, "succeeded under a second serial"),
    ("lost", "wechat", "never_received", 5_000, 20, [5_000], None, None, "succeeded, same serial sent twice"),
    ("slow", "unionpay", "accepted_then_succeeded", 8_800, 35, [1_000], None, None, "succeeded after query-back"),
    ("void", "unionpay", "void_card", 12_000, 48, [12_000], None, None, "failed: card void"),
    ("unknown", "wechat", "unknown_code", 6_600, 26, [6_600], None, None, "manual review: unknown code"),
    ("mismatch", "unionpay", "amount_mismatch", 4_000, 16, [4_000], None, "force_success", "succeeded by ops"),
    ("pending", "unionpay", "statement_mismatch", 9_900, 40, [9_900], None, None, "processing, swept"),
    ("gaveup", "flakybank", "statement_mismatch", 7_700, 30, [7_700], None, None, "manual review: sweep ran out"),
    ("reversed", "flakybank", "success_then_reversed", 3_300, 13, [3_300], None, None, "reversed"),
    ("audit", "manualbank", "ok", 15_000, 60, [15_000], None, None, "awaiting audit"),
    ("rejected", "manualbank", "ok", 2_500, 10, [2_500], None, "reject", "rejected at audit"),
    ("approved", "manualbank", "ok", 2_600, 10, [2_600], None, "approve", "succeeded after audit"),
    ("predebit", "predebit", "ok", 5_500, 22, [5_500], None, "mark_succeeded_offline", "succeeded offline"),
    ("payout", "quickpay", "ok", 7_000, 28, [7_000], None, None, "succeeded by payout to the card"),
    ("wallet", "quickpay", "ok", 7_100, 28, [7_100], "W-DEMO-1", None, "succeeded to the wallet"),
    ("forcefail", "wechat", "unknown_code", 1_900, 8, [1_900], None, "force_fail", "failed by ops"),
]
WAIT_FOR = {"force_success": "manual_review", "force_fail": "manual_review", "reject": "awaiting_audit",
            "approve": "awaiting_audit", "mark_succeeded_offline": "awaiting_audit"}


async def load_refund_demo_once(api: str, channel_sim: str, engine: Engine) -> None:
    with Session(engine) as s:
        if already_loaded("refunds", s.exec(select(Payment).limit(1)).first() is not None):
            return
    seed_refund_catalogue(engine)
    callback = f"{channel_sim}/merchant/callbacks"
    paid_at = datetime.now(UTC) - timedelta(days=2)
    headers = await asyncio.to_thread(staff_headers, api, "demo-ops")  # payments and refunds as the ops desk
    auditor = await asyncio.to_thread(staff_headers, api, "demo-auditor")
    # payments come from the acquiring side (the admin stands in for its service account)
    ops = acquirer = await asyncio.to_thread(staff_headers, api, "demo-admin")
    merchant = await asyncio.to_thread(merchant_key_headers, api, "M001")  # the merchant asks with its own key
    async with httpx.AsyncClient(timeout=30, headers=headers) as http, \
            httpx.AsyncClient(timeout=30, headers=merchant) as merchant_http:
        scripts = [{"payment_id": f"PAY-DEMO-{key}", "channel": ch, "paid_fen": paid, "behaviour": b, "times": 1,
                    "settle_after_s": 2} for key, ch, b, paid, *_ in PLAN]
        (await http.post(f"{channel_sim}/sim/payments", json=scripts)).raise_for_status()
        refunds: dict[str, str] = {}
        for key, ch, _, paid, fee, amounts, wallet, _, _ in PLAN:
            (await http.post(f"{api}/payments", json={
                "id": f"PAY-DEMO-{key}", "merchant_id": "M001", "merchant_order_no": f"SO-{key}", "channel": ch,
                "product": "quick", "paid_fen": paid, "fee_fen": fee, "channel_cost_fen": fee // 2,
                "consumer_card_masked": "6222****8888", "consumer_wallet_id": wallet,
                "paid_at": paid_at.isoformat()}, headers=acquirer)).raise_for_status()
            for i, amount in enumerate(amounts):
                r = await merchant_http.post(f"{api}/refunds", json={
                    "merchant_id": "M001", "merchant_refund_no": f"RN-{key}-{i}", "payment_id": f"PAY-DEMO-{key}",
                    "amount_fen": amount, "reason": "customer returned the goods", "callback_url": callback})
                r.raise_for_status()
                refunds[key] = r.json()["id"]
        # an exception order: the same merchant order paid twice -> refunded automatically
        (await http.post(f"{api}/payments", json={
            "id": "PAY-DEMO-dup", "merchant_id": "M001", "merchant_order_no": "SO-ok", "channel": "unionpay",
            "product": "quick", "paid_fen": 10_000, "fee_fen": 50, "consumer_card_masked": "6222****8888",
            "callback_url": callback}, headers=acquirer)).raise_for_status()
        for key, channel, *_, action, _ in PLAN:
            if action is None:
                continue
            rid = refunds[key]
            if not await _wait_status(http, api, rid, WAIT_FOR[action]):
                print(f"  refund {rid} ({key}) did not reach {WAIT_FOR[action]} in time; skipped {action}")
                continue
            # an auditor decides what the audit decides; ops overrides after reconciliation: never the requester
            who = auditor if action in ("approve", "reject", "mark_succeeded_offline") else ops
            body = {"reason": {"reject": "goods never returned", "approve": "receipt checked",
                               "mark_succeeded_offline": "the channel already debited the consumer"}.get(
                                   action, "reconciled with the channel statement"),
                    "statement_ref": f"STMT-{datetime.now(UTC):%Y%m%d}-{key}"}
            if action in ("force_success", "force_fail"):  # cite the channel's statement, loaded first
                body["statement_ref"] = await _statement_ref(http, api, rid, channel, action, ops)
            (await http.post(f"{api}/refunds/{rid}/{action}", json=body, headers=who)).raise_for_status()
    mark_loaded("refunds")
    print(f"Refund demo data loaded: {len(PLAN) + 1} payments; refunds in every state (see /refunds).")


async def _statement_ref(http: httpx.AsyncClient, api: str, refund_id: str, channel: str, action: str,
                         ops: dict) -> str:
    """Load the statement of the day the refund's serial was sent and cite it: its line for a force success, the
    day for a force fail (refund rules 4.5: overrides cite a loaded statement)."""
    serial = (await http.get(f"{api}/refunds/{refund_id}", headers=ops)).json()["serials"][-1]
    day = datetime.fromisoformat(serial["created_at"]).astimezone(SHANGHAI).strftime("%Y%m%d")
    loaded = await http.post(f"{api}/refund-channels/{channel}/statements/{day}", headers=ops)
    loaded.raise_for_status()
    return f"{channel}/{day}/{serial['serial']}" if action == "force_success" else loaded.json()["statement_ref"]


async def _wait_status(http: httpx.AsyncClient, api: str, refund_id: str, status: str, seconds: float = 60) -> bool:
    for _ in range(int(seconds * 2)):
        r = await http.get(f"{api}/refunds/{refund_id}")
        if r.status_code == 200 and r.json()["status"] == status:
            return True
        await asyncio.sleep(0.5)
    return False
