"""Can a patch's old branch go? `python -m scripts.patches [--deployed <patch>=<ISO time> ...]`

A `workflow.patched(id)` keeps an old branch for the executions that ran before the patch shipped. That branch is
still needed while any execution of the workflow type that started before the patch's build ran can still be
replayed: a running one (its next task after a cache eviction or a worker restart), and a closed one while the
namespace keeps it (the Web UI replays it to show its current details, a query replays it). So the check is one
visibility count per patch, over every status:

    WorkflowType = "<type>" AND StartTime < "<when the patch's build first ran in this namespace>"

Zero: the old branch can go, in two deploys (docs/performance.md, "Retiring a patch"): first `patched(id)` becomes
`workflow.deprecate_patch(id)` and the old branch is deleted; once the same count with the time that build first
ran is zero again, the call itself goes (and with it the marker and the TemporalChangeVersion upsert that every new
execution pays for it).

The times below are when each patch reached main (a lower bound of any deploy); pass the deploy time of the
namespace you ask about with --deployed when it is later.
"""

import argparse
import asyncio
from dataclasses import dataclass
from datetime import datetime

from core.temporal import connect


@dataclass(frozen=True)
class Patch:
    id: str
    workflow_type: str
    merged: str  # ISO time the patch reached main
    retired: str = ""  # "deprecated" once `deprecate_patch` replaced `patched`, "removed" once the call is gone


PATCHES = (
    Patch("placed-published-at-start", "OrderSettlement", "2026-11-26T00:00:00+08:00"),
    Patch("suspension-cases", "OrderSettlement", "2026-12-01T00:00:00+08:00", retired="deprecated"),
    Patch("publish-at-rest", "OrderSettlement", "2026-12-02T00:00:00+08:00"),
    Patch("ops-retry-queries-back-first", "Refund", "2026-11-26T00:00:00+08:00"),
    Patch("force-fail-needs-current-check", "Refund", "2026-12-01T00:00:00+08:00"),
    Patch("fee-return-credit-failure-waits-for-ops", "FeeReturnCredit", "2026-12-01T00:00:00+08:00"),
)


def query(patch: Patch, deployed: datetime) -> str:
    return f'WorkflowType = "{patch.workflow_type}" AND StartTime < "{deployed.isoformat()}"'


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deployed", action="append", default=[], metavar="PATCH=TIME",
                        help="when the patch's build first ran in this namespace (ISO time with offset)")
    args = parser.parse_args()
    deployed = dict(d.split("=", 1) for d in args.deployed)
    client = await connect()
    for patch in PATCHES:
        when = datetime.fromisoformat(deployed.get(patch.id, patch.merged))
        q = query(patch, when)
        older = (await client.count_workflows(q)).count
        running = (await client.count_workflows(f'{q} AND ExecutionStatus = "Running"')).count
        verdict = "its old branch can go" if older == 0 else "keep it"
        print(f"{patch.id} ({patch.workflow_type}, {patch.retired or 'active'}): {older} executions started before "
              f"{when.isoformat()} ({running} running): {verdict}\n    {q}")


if __name__ == "__main__":
    asyncio.run(main())
