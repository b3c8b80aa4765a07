"""The worker's table of businesses: what each queue serves, and that nothing is registered twice or missing."""

from collections import Counter
from types import SimpleNamespace

import pytest

import worker
from workflows.agents import contract as agents
from workflows.cancellations import contract as cancellations
from workflows.complaints import contract as complaints
from workflows.finance import contract as finance
from workflows.orders import contract as orders
from workflows.refunds import contract as refunds

CONTRACTS = {"orders": orders, "refunds": refunds, "complaints": complaints, "agents": agents,
             "cancellations": cancellations, "finance": finance}
# Activity-name constants of each contract (the names workflows call activities by)
NOT_ACTIVITIES = {"TASK_QUEUE", "SEARCH_ATTRIBUTES", "OPS_ACTIONS", "VIEW", "PROGRESS",
                  "CHECKLIST", "CARRIER_EVENT", "CARRIER_EVENTS", "AUDIT_RESULT", "SWEEP_ANSWER", "RECOMPUTE_DUE", "RESOLVE_CREDIT",
                  "ACKNOWLEDGED", "ACCOUNT_EVENT", "ACCOUNT_VIEW", "MAINTENANCE_CHANGE", "CASE_RESTORED",
                  "CASE_ORDER_DECIDED", "CASE_TRIGGER", "CASE_VIEW", "RESCUE_CLOSED"}


def _peers():
    return SimpleNamespace(client=object(), engine=object(), carrier=object(), sms=object(), billing=object(),
                           channels=object(), agent_webhooks=None)


def _activity_names(business: worker.Business) -> list[str]:
    methods = worker.activity_methods(business.activities(_peers()))
    return [getattr(m, "__temporal_activity_definition").name for m in methods]


def _contract_activity_names(contract) -> set[str]:
    return {v for k, v in vars(contract).items()
            if k.isupper() and isinstance(v, str) and k not in NOT_ACTIVITIES
            and not k.endswith(("_WORKFLOW", "_WORKFLOW_ID", "_SCHEDULE_ID", "_SUMMARY"))}  # _SUMMARY: Web UI one-liners


@pytest.mark.parametrize("business", worker.BUSINESSES, ids=lambda b: b.name)
def test_every_activity_a_contract_names_is_registered_by_its_business(business):
    registered = _activity_names(business)
    assert len(registered) == len(set(registered))
    assert set(registered) == _contract_activity_names(CONTRACTS[business.name])


def test_names_are_unique_across_businesses():
    workflows = Counter(w.__temporal_workflow_definition.name for w in worker.WORKFLOWS)
    assert max(workflows.values()) == 1
    activities = Counter(n for b in worker.BUSINESSES for n in _activity_names(b))
    assert max(activities.values()) == 1
    assert len({b.task_queue for b in worker.BUSINESSES}) == len(worker.BUSINESSES)


def test_one_business_serves_only_its_own_queue():
    assert {q: [b.name for b in bs] for q, bs in worker.queues_of(["refunds"]).items()} == {"refunds": ["refunds"]}
    assert list(worker.queues_of(["complaints"])) == ["complaints"]


def test_the_former_shared_queue_keeps_every_business_that_ran_there():
    # executions started before the split stay on "orders": its worker runs their workflows and activities too
    served = worker.queues_of(["orders"])
    assert [b.name for b in served["orders"]] == ["orders", "refunds", "complaints"]
    assert set(worker.queues_of(None)) == {"orders", "refunds", "complaints", "agents", "cancellations", "finance"}


def test_an_unknown_business_is_refused_by_name():
    with pytest.raises(KeyError, match="no business 'fulfilment'"):
        worker.queues_of(["fulfilment"])


def test_the_sandbox_passes_every_contract_through():
    assert {b.contract for b in worker.BUSINESSES} <= set(worker.PASSTHROUGH)
    assert all(c.startswith("workflows.") and c.endswith(".contract") for c in (b.contract for b in worker.BUSINESSES))
