"""Every recorded history must replay against the current workflow code (no non-determinism)."""

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core.crypto import data_converter
from worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_of_both_workflows_are_recorded():
    names = {p.name for p in HISTORIES}
    assert any(n.startswith("order_") for n in names) and any(n.startswith("settlement_") for n in names)
    assert any(n.startswith("refund_") for n in names)


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_replays_without_nondeterminism(path):
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
