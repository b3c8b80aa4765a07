"""`scripts.setup`: what `make run` and the compose job `temporal-setup` do to a namespace, twice over."""

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from core import search_attributes as sa
from core.crypto import data_converter
from scripts.setup import set_up
from tests.temporal_env import binary
from worker import SEARCH_ATTRIBUTES


async def test_registers_every_search_attribute_and_schedule_once():
    # a bare dev server, as a production namespace starts: no search attributes of ours yet
    env = await WorkflowEnvironment.start_local(data_converter=data_converter(), dev_server_existing_path=binary("temporal"))
    try:
        first = await set_up(env.client)
        again = await set_up(env.client)  # every start runs it: nothing new, nothing refused
        assert first == again and len(first) == 8  # four carriers' settlements, calendar check, refund sweep, two repairs
        listed = await env.client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=env.client.namespace))
        assert {k.name: int(listed.custom_attributes[k.name]) for k in SEARCH_ATTRIBUTES} == {
            k.name: int(sa.indexed_value_type(k)) for k in SEARCH_ATTRIBUTES}
        schedules = {s.id async for s in await env.client.list_schedules()}
        assert set(first) <= schedules
    finally:
        await env.shutdown()
