"""What an ops viewer of the Temporal Web UI sees without the codec server: every workflow type is run (the
scenarios of the recorded histories, plus a ticket whose handlers type a name, an ID number and a phone number),
each history is read as the server keeps it (`fetch_history` applies no codec, like the Web UI's own requests),
and nothing personal is there: no 11-digit mobile number, no 18-character ID number, no fixture name, and no
fingerprint a 10^4 search over a masked number's hidden digits inverts. The histories recorded in clear before
encryption are the control: the same search recovers their numbers.
"""

import base64
import hashlib
import json
import re
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from core.crypto import EncryptionCodec
from domain.complaints.complaint import Department
from tests.complaints.world import MSISDN as COMPLAINT_MSISDN
from tests.complaints.world import ComplaintWorld, new_case, start
from tests.histories import (
    record,
    record_agents,
    record_cancellations,
    record_complaints,
    record_finance,
    record_fulfilment,
    record_refunds,
    record_repairs,
    record_stale_submission,
)
from tests.orders.world import MSISDN as ORDER_MSISDN
from tests.temporal_env import start_time_skipping
from worker import WORKFLOWS
from workflows.complaints.complaint import ComplaintWorkflow
from workflows.complaints.contract import DepartmentAction, FindingsRequest, ReplyRequest

NAME, ID_NUMBER, CALLBACK = "王秀英", "11010119900307123X", "13700137000"
TYPED = f"customer {NAME}, ID {ID_NUMBER}, call back on {CALLBACK}"
FIXTURE_NAMES = (NAME, "张伟")
MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
ID_CARD = re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])")
HEX = re.compile(r"(?<![0-9a-f])[0-9a-f]{16,64}(?![0-9a-f])")
MASKED = re.compile(r"(?<!\d)(1\d{2})\*{4}(\d{4})(?!\d)")


def visible(history: dict) -> str:
    """The history as a person reads it without the codec: the JSON, and each payload's data as text."""
    parts = [json.dumps(history, ensure_ascii=False)]

    def walk(node):
        if isinstance(node, dict):
            if "metadata" in node and "data" in node:
                parts.append(base64.b64decode(node["data"]).decode("utf-8", "replace"))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(history)
    return "\n".join(parts)


def inverted(text: str, masks: set[str]) -> list[str]:
    """Numbers a 10^4 search recovers: each hidden middle of each mask, hashed (SHA-256, SHA-1, MD5), against every
    hex string in sight (a prefix is enough: fingerprints were truncated)."""
    hexes = set(HEX.findall(text))
    found = []
    for mask in masks:
        head, tail = mask[:3], mask[-4:]
        for middle in range(10_000):
            number = f"{head}{middle:04d}{tail}".encode()
            for algo in (hashlib.sha256, hashlib.sha1, hashlib.md5):
                digest = algo(number).hexdigest()
                if any(digest.startswith(h) for h in hexes):
                    found.append(number.decode())
    return found


def masks_in(text: str) -> set[str]:
    return {f"{a}****{b}" for a, b in MASKED.findall(text)}


KNOWN_MASKS = {f"{n[:3]}****{n[-4:]}" for n in (ORDER_MSISDN, COMPLAINT_MSISDN, CALLBACK, "13900000000")}


def offences(text: str) -> list[str]:
    return (MOBILE.findall(text) + ID_CARD.findall(text) + [n for n in FIXTURE_NAMES if n in text]
            + inverted(text, masks_in(text) | KNOWN_MASKS))


@pytest.fixture(scope="module")
async def histories() -> dict[str, dict]:
    out: dict[str, dict] = {}
    recorders = (record.histories, record_complaints.histories, record_complaints.credit_failures_and_notices,
                 record_refunds.histories, record_agents.histories, record_cancellations.histories,
                 record_repairs.histories, record_finance.histories,
                 record_fulfilment.histories, record_stale_submission.histories)
    for recorded in recorders:  # each on a server of its own, as when recorded
        env = await start_time_skipping()
        try:
            # a settlement batch reconciles on finance's queue (finance's own recorder serves it itself)
            async with (nullcontext() if recorded is record_finance.histories
                        else record_finance.finance_worker(env.client)):
                out.update(await recorded(env))
        finally:
            await env.shutdown()
    env = await start_time_skipping()
    try:
        world = ComplaintWorld()
        async with world.worker(env.client):
            h = await start(env.client, world, new_case(await env.get_current_time()))
            desk = dict(department=Department.COMPLAINT_DESK, actor="li")
            await h.execute_update(ComplaintWorkflow.accept, DepartmentAction(**desk))
            await h.execute_update(ComplaintWorkflow.add_findings, FindingsRequest(**desk, text=TYPED))
            await h.execute_update(ComplaintWorkflow.reply, ReplyRequest(**desk, handling=TYPED, reply_to_customer=TYPED))
            await env.sleep(timedelta(hours=1))
            # read as the Web UI reads it: a client with no codec at all
            raw = Client(env.client.service_client, namespace=env.client.namespace)
            as_ui = (await raw.get_workflow_handle(h.id).fetch_history()).to_json_dict()
            assert as_ui == (await h.fetch_history()).to_json_dict()  # fetch_history never applies the codec
            out["complaint_with_typed_personal_data"] = as_ui
            await h.terminate("test over")
        return out
    finally:
        await env.shutdown()


def test_every_workflow_type_ran(histories):
    types = {h["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"] for h in histories.values()}
    assert types == {getattr(w, "__temporal_workflow_definition").name for w in WORKFLOWS}


async def test_without_the_codec_no_history_shows_anything_personal(histories):
    for name, history in histories.items():
        assert offences(visible(history)) == [], name
    # and the personal data was really sent: the codec server's view of the same ticket shows it
    sealed = []

    def walk(node):
        if isinstance(node, dict):
            if "metadata" in node and "data" in node:
                sealed.append(Payload(metadata={k: base64.b64decode(v) for k, v in node["metadata"].items()},
                                      data=base64.b64decode(node["data"])))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(histories["complaint_with_typed_personal_data"])
    decoded = " ".join(p.data.decode("utf-8", "replace") for p in await EncryptionCodec().decode(sealed))
    assert ID_NUMBER in decoded and NAME in decoded and CALLBACK in decoded


def test_the_histories_recorded_in_clear_give_their_numbers_away_so_the_search_works():
    old = json.loads((Path(__file__).parent / "histories" / "order_settled.v1.json").read_text())
    assert ORDER_MSISDN in inverted(visible(old), masks_in(visible(old)))


# What each search attribute may hold: business codes only. Search attributes bypass every codec (the server
# indexes them in clear), so a new one must be added here with the shape of its values.
SEARCH_ATTRIBUTE_VALUES = {
    "OrderStatus": r"[a-z_]+", "Carrier": r"[a-z_]+", "AgentId": r"A\d+", "SettlementMonth": r"\d{6}",
    "FailureReason": r"[a-z_]+", "RefundStatus": r"[a-z_]+", "Channel": r"[a-z_]+", "MerchantId": r"M\d+",
    "ComplaintLevel": r"[1-4]|regulator", "Department": r"[a-z_]+", "ComplaintState": r"[a-z_]+",
    "DueAt": r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)",
    "CancellationState": r"[a-z_]+",
    "OrderStale": r"True|False",
    "TemporalChangeVersion": r"[a-z0-9-]+",  # patch ids, written by the SDK
}


def test_every_search_attribute_is_declared_with_a_business_code_shape_and_every_value_seen_fits_it(histories):
    from worker import SEARCH_ATTRIBUTES

    assert {k.name for k in SEARCH_ATTRIBUTES} <= set(SEARCH_ATTRIBUTE_VALUES)
    seen: dict[str, set[str]] = {}

    def walk(node):
        if isinstance(node, dict):
            fields = node.get("searchAttributes", {}).get("indexedFields", {}) if isinstance(node.get("searchAttributes"), dict) else {}
            for key, payload in fields.items():
                value = json.loads(base64.b64decode(payload["data"]))
                for v in value if isinstance(value, list) else [value]:
                    seen.setdefault(key, set()).add(str(v))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for history in histories.values():
        walk(history)
    assert {"OrderStatus", "RefundStatus", "ComplaintState", "Department"} <= set(seen)  # the scenarios set them
    for key, values in seen.items():
        assert key in SEARCH_ATTRIBUTE_VALUES, f"undeclared search attribute {key}"
        for v in values:
            assert re.fullmatch(SEARCH_ATTRIBUTE_VALUES[key], v), (key, v)
            assert offences(v) == [] and not MASKED.search(v), (key, v)
