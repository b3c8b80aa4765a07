"""Every recorded history must replay against the current workflow code (no non-determinism), with the project's
data converter: the histories recorded before payload encryption (in clear) and those recorded since (encrypted
by core.crypto's codec) alike."""

import json
import re
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core.crypto import ENCODING, data_converter
from worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
ENCRYPTED = ENCODING.decode()
# payloads the SDK writes itself and no codec sees: a marker's own header (local activity, patch), search attributes
NOT_CODEC = re.compile(r"(patch-data|TemporalChangeVersion|indexedFields|details/data)")


def test_histories_of_both_workflows_are_recorded():
    names = {p.name for p in HISTORIES}
    assert any(n.startswith("order_") for n in names) and any(n.startswith("settlement_") for n in names)
    assert any(n.startswith("refund_") for n in names)
    assert any(n.startswith("cancellation_") for n in names)


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_replays_without_nondeterminism(path):
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def payloads_of(node, path=""):
    if isinstance(node, dict):
        if "metadata" in node and "encoding" in node["metadata"]:
            yield path, node
        for k, v in node.items():
            yield from payloads_of(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from payloads_of(v, f"{path}/{i}")


def latest() -> dict[str, Path]:
    """The newest recording of each history (name.vN.json)."""
    out: dict[str, Path] = {}
    for p in HISTORIES:
        name, version = p.stem.rsplit(".", 1)
        if name not in out or int(version[1:]) > int(out[name].stem.rsplit(".", 1)[1][1:]):
            out[name] = p
    return out


def test_the_newest_recording_of_every_history_has_every_payload_encrypted_and_covers_every_workflow_type():
    import base64

    types = set()
    for path in latest().values():
        history = json.loads(path.read_text())
        types.add(history["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"])
        clear = [p for p, node in payloads_of(history) if not NOT_CODEC.search(p)
                 and base64.b64decode(node["metadata"]["encoding"]).decode() != ENCRYPTED]
        assert not clear, f"{path.name}: payloads in clear at {clear[:3]}"
    assert types == {getattr(w, "__temporal_workflow_definition").name for w in WORKFLOWS}
