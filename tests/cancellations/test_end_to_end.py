"""The cancellation demo through the whole system as `make run` starts it (dev server, carrier simulator, worker,
API) over real signed HTTP: one case in each state, and the Web UI's filter by state finds them."""

import asyncio

import httpx
import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata

from core.temporal import connect
from scripts.demo import cancellations as demo
from scripts.demo import state
from tests.polling import poll
from tests.stacks import running_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("cancellation-stack")) as s:
        yield s


async def test_demo_shows_every_state_and_the_web_ui_filters_by_state(stack, monkeypatch, tmp_path):
    monkeypatch.setattr(state, "VAR", tmp_path)  # the "loaded once" marker stays out of the repository's var/
    client = await connect(stack.temporal_address)
    from core.db import make_engine
    engine = make_engine(stack.env["SIMBO_DATABASE_URL"])
    await demo.load_cancellation_demo_once(client, stack.api_url, stack.simulator_url, engine)
    headers = await asyncio.to_thread(stack.staff_headers, "demo-clerk")
    async with httpx.AsyncClient(base_url=stack.api_url, headers=headers, timeout=30) as api:
        async def states():
            items = (await api.get("/cancellations", params={"limit": 50})).json()["items"]
            return sorted(c["state"] for c in items)

        got = await poll(states, lambda s: "cancelled" in s and "failed" in s, "the aged cases at the carrier")
        assert got == ["cancelled", "cooling_off", "failed", "ready", "todo", "todo", "withdrawn"]
        items = (await api.get("/cancellations", params={"state": "todo"})).json()["items"]
        again = next(c for c in items if c["ineligible_again"])
        d = (await api.get(f"/cancellations/{again['id']}")).json()
        assert [i["kind"] for i in d["todo"]] == ["family_plan"]
        first = next(c for c in items if not c["ineligible_again"])
        d = (await api.get(f"/cancellations/{first['id']}")).json()
        assert sorted(i["kind"] for i in d["todo"]) == ["balance", "contract", "device", "value_added"]
        contract = next(i for i in d["todo"] if i["kind"] == "contract")
        assert contract["amount_fen"] > 0 and "half up" in contract["explanation"]
        failed = (await api.get("/cancellations", params={"state": "failed"})).json()["items"][0]
        assert "real-name review" in failed["failure_reason"]

    async def visible(query):
        return [w.id async for w in client.list_workflows(query)]

    cooling = await poll(lambda: visible('CancellationState = "cooling_off"'), lambda ids: len(ids) == 1,
                         "the cooling-off case in visibility", every=1)
    assert cooling[0].startswith("cancellation-CX")
    unicom = await poll(lambda: visible('CancellationState = "todo" AND Carrier = "china_unicom"'),
                        lambda ids: len(ids) == 1, "the unicom to-do case in visibility", every=1)
    assert unicom[0].startswith("cancellation-")
    handle = client.get_workflow_handle(cooling[0])
    desc = await handle.describe()
    assert "Cancellation CX" in (await desc.static_summary()) and "72-hour" in (await desc.static_details())
    meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "cooling_off until" in meta.current_details and "confirmation" in meta.current_details  # the parcel trail
    engine.dispose()
