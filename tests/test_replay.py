"""Every recorded history must replay against the current workflow code (no non-determinism), with the project's
data converter: the histories recorded before payload encryption (in clear) and those recorded since (encrypted
by core.crypto's codec) alike.

Histories are append-only (tests/test_histories_append_only.py); every workflow type has at least one.
"""

import json
import re
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from core.crypto import ENCODING, data_converter
from worker import WORKFLOWS

HERE = Path(__file__).parent / "histories"
HISTORIES = sorted(HERE.glob("*.json"))
# Recorded before changes that shipped without a patch (refunds: batched writes, the parked safety query;
# settlement: the batch waits for audited orders before its statements):
# their runs and the runs recorded after those changes (the *.v1 files) have the same history up to where they
# part, and neither carries a patch marker, so no code can tell them apart; today's code follows the later runs.
# Kept, and expected to fail exactly there, so the cost of an unpatched change stays visible
# (docs/architecture.md, "Versioning").
UNREPLAYABLE = sorted((HERE / "unreplayable").glob("*.json"))
# Recorded runs that took the old branch of a patch retired since (deprecate_patch: docs/performance.md, "Retiring
# a patch"): the files stay where they are (append-only) and are expected to fail, as the unreplayable ones.
RETIRED: frozenset[str] = frozenset()


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))


def _type_of(path: Path) -> str:
    started = json.loads(path.read_text())["events"][0]
    return started["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]

ENCRYPTED = ENCODING.decode()
# payloads the SDK writes itself and no codec sees: a marker's own header (local activity, patch), search attributes
NOT_CODEC = re.compile(r"(patch-data|TemporalChangeVersion|indexedFields|details/data)")


def test_every_workflow_type_has_a_recorded_history():
    recorded = {_type_of(p) for p in HISTORIES}
    registered = {workflow._Definition.must_from_class(w).name for w in WORKFLOWS}
    assert registered - recorded == set(), f"workflow types without a recorded history: {registered - recorded}"


@pytest.mark.parametrize("path", [p for p in HISTORIES if p.name not in RETIRED], ids=lambda p: p.stem)
async def test_replays_without_nondeterminism(path):
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter())
    result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=True)
    assert result.replay_failure is None


@pytest.mark.parametrize("path", UNREPLAYABLE + [p for p in HISTORIES if p.name in RETIRED], ids=lambda p: p.stem)
async def test_runs_of_unpatched_changes_stay_visible(path):
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter())
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(_history(path), raise_on_replay_failure=True)


def payloads_of(node, path=""):
    if isinstance(node, dict):
        if "metadata" in node and "encoding" in node["metadata"]:
            yield path, node
        for k, v in node.items():
            yield from payloads_of(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from payloads_of(v, f"{path}/{i}")


def _version(path: Path) -> int:
    """name.v3.json -> 3; a restored early run (name.v0b-batched-writes.json) counts as 0."""
    return int(re.match(r"v(\d+)", path.stem.rsplit(".", 1)[1]).group(1))


def latest() -> dict[str, Path]:
    """The newest recording of each history (name.vN.json)."""
    out: dict[str, Path] = {}
    for p in HISTORIES:
        name = p.stem.rsplit(".", 1)[0]
        if name not in out or _version(p) > _version(out[name]):
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
