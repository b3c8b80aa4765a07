"""The worker's sandbox passes the project's pure modules through (loaded once, not per workflow run) and still
refuses I/O in workflows: files, sockets, HTTP, processes, blocking sleeps, the wall clock."""

import uuid

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.worker import Worker

import worker
from tests.sandbox_probes import SandboxProbeWorkflow

FORBIDDEN = ["open", "listdir", "socket", "http", "subprocess", "sleep", "clock"]


async def _run(env, probe: str) -> str:
    tq = f"sandbox-{uuid.uuid4().hex[:6]}"
    async with Worker(env.client, task_queue=tq, workflows=[SandboxProbeWorkflow], workflow_runner=worker.sandbox_runner(),
                      workflow_failure_exception_types=[Exception]):  # a refusal fails the run instead of retrying
        return await env.client.execute_workflow(SandboxProbeWorkflow.run, probe, id=f"probe-{probe}-{tq}",
                                                 task_queue=tq)


@pytest.mark.parametrize("probe", FORBIDDEN)
async def test_the_sandbox_refuses_io_in_a_workflow(time_env, probe):
    with pytest.raises(WorkflowFailureError) as failure:
        await _run(time_env, probe)
    assert "Cannot access" in str(failure.value.cause), failure.value.cause


async def test_the_projects_pure_modules_are_passed_through(time_env):
    from domain import clock
    from workflows.orders import contract

    assert await _run(time_env, "passthrough") == f"{id(clock)} {id(contract)}"
    assert await _run(time_env, "nothing") == "nothing tried"
