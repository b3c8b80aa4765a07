"""What ops read of a refund in the Temporal Web UI: its one-liner, and current details with its status, what it
waits for and every serial with its outcome."""

import uuid
from datetime import timedelta

from temporalio.api.sdk.v1 import WorkflowMetadata

from tests.refunds.world import RefundWorld, failed, new_refund
from tests.temporal_env import start_time_skipping
from workflows.refunds.contract import refund_summary, refund_workflow_id
from workflows.refunds.refund import RefundWorkflow


async def test_a_refund_in_manual_review_shows_its_serials_and_outcomes():
    env = await start_time_skipping()
    try:
        world = RefundWorld()
        world.tq = f"refunds-ui-{uuid.uuid4().hex[:8]}"
        world.send_script[:] = [failed("TOO_FREQUENT"), failed("E9999")]  # new serial, then an unknown code: manual
        inp = new_refund()
        async with world.worker(env.client, world.tq):
            h = await env.client.start_workflow(RefundWorkflow.run, inp, id=refund_workflow_id(inp.refund_id),
                                                task_queue=world.tq, static_summary=refund_summary(inp))
            details = ""
            for _ in range(60):
                meta = await h.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
                details = meta.current_details
                if details.startswith("**MANUAL REVIEW**"):
                    break
                await env.sleep(timedelta(seconds=20))  # past the 60 s wait for a new serial
            summary = await (await h.describe()).static_summary()
        assert details.startswith("**MANUAL REVIEW**: waiting for ops: "), details
        serial_lines = [line for line in details.splitlines() if line[:3] in ("1. ", "2. ")]
        assert len(serial_lines) == 2 and all(line.endswith(": failed") for line in serial_lines), details
        assert "manual review: unknown channel code 'E9999'" in details
        assert summary == refund_summary(inp) and inp.refund_id in summary
    finally:
        await env.shutdown()
