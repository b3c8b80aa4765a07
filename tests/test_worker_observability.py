"""The worker as ops see it: the Temporal SDK's Prometheus metrics on the address from settings, and Worker
Versioning (a deployment and a build; a new build made current takes the new executions)."""

import asyncio
import uuid
from datetime import date

import httpx
import pytest
from temporalio import activity
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.worker import Worker

import worker
from core import telemetry
from core.settings import get_settings
from scripts.stack import free_port
from tests.temporal_env import start_dev_server
from workflows.complaints import contract as complaints
from workflows.complaints.complaint import CalendarCheckWorkflow


@activity.defn(name=complaints.CHECK_CALENDAR)
async def check_calendar(today: date) -> list[str]:
    return []


@pytest.fixture
async def dev_env():
    env = await start_dev_server()
    yield env
    await env.shutdown()


async def test_the_worker_serves_the_sdk_metrics(dev_env, monkeypatch):
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setattr(get_settings(), "worker_metrics_address", address)
    client = await Client.connect(dev_env.client.service_client.config.target_host, data_converter=pydantic_data_converter,
                                  runtime=telemetry.worker_runtime())
    tq = f"metrics-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=tq, workflows=[CalendarCheckWorkflow], activities=[check_calendar]):
        await client.execute_workflow(CalendarCheckWorkflow.run, id=f"cal-{tq}", task_queue=tq)
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://{address}/metrics")).text
    assert "temporal_workflow_completed" in text and f'task_queue="{tq}"' in text
    assert "temporal_activity_execution_latency" in text


def test_the_build_id_comes_from_settings_or_the_git_commit(monkeypatch):
    monkeypatch.setattr(get_settings(), "worker_build_id", "release-42")
    assert worker.build_id() == "release-42"
    monkeypatch.setattr(get_settings(), "worker_build_id", "")
    built = worker.build_id()
    assert len(built.removesuffix("-dirty")) == 12 and all(c in "0123456789abcdef" for c in built[:12])


async def test_a_versioned_worker_takes_the_executions_once_its_build_is_current(dev_env, monkeypatch):
    s = get_settings()
    monkeypatch.setattr(s, "worker_versioning", True)
    monkeypatch.setattr(s, "worker_build_id", f"b-{uuid.uuid4().hex[:6]}")
    config = worker.deployment_config()
    assert config is not None and config.version.deployment_name == s.worker_deployment_name
    client = dev_env.client
    tq = f"versioned-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=tq, workflows=[CalendarCheckWorkflow], activities=[check_calendar],
                      deployment_config=config):
        request = SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace, deployment_name=config.version.deployment_name,
            build_id=config.version.build_id, identity="test")
        for _ in range(100):  # the version exists once the worker has polled
            try:
                await client.workflow_service.set_worker_deployment_current_version(request)
                break
            except RPCError:
                await asyncio.sleep(0.2)
        else:
            raise AssertionError("the worker's version never appeared")
        handle = await client.start_workflow(CalendarCheckWorkflow.run, id=f"cal-{tq}", task_queue=tq)
        await handle.result()
        info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
    assert info.deployment_version.build_id == config.version.build_id
    assert info.behavior == 2  # VERSIONING_BEHAVIOR_AUTO_UPGRADE: moves to the current build at its next task
