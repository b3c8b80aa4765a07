"""The worker, built from one table of businesses.

`python worker.py` serves every business's task queue; `python worker.py --business refunds` serves only
that business's queue, so each business scales with replicas of its own. A business declares its workflows,
its activity objects (every method with `@activity.defn` is registered) and its task queue; adding one is
one row in `BUSINESSES`.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import structlog
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker, WorkerDeploymentConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.agents import AgentActivities
from activities.cancellations import CancellationActivities
from activities.complaints.complaint import ComplaintActivities
from activities.complaints.fee_return import FeeReturnActivities
from activities.finance import FinanceActivities
from activities.orders.carrier import CarrierActivities
from activities.orders.delivery import DeliveryActivities
from activities.orders.fulfilment import FulfilmentActivities
from activities.orders.order import OrderActivities
from activities.orders.repair import OrderRepairActivities
from activities.orders.settlement import SettlementActivities
from activities.orders.suspension import SuspensionCaseActivities
from activities.refunds import RefundActivities
from core import logs, telemetry
from core.db import get_engine
from core.settings import Settings, check_secrets, get_settings
from core.temporal import connect
from gateways.agents import AgentWebhookGateway, agent_webhooks_from_settings
from gateways.billing import BillingGateway, billing_gateway_from_settings
from gateways.carrier import CarrierGateway
from gateways.mail import SmtpMailer
from gateways.payment_channel import PaymentChannelGateway
from gateways.sms import SmsGateway, sms_gateway_from_settings
from workflows.agents import contract as agents
from workflows.agents.account import AgentAccountWorkflow
from workflows.agents.maintenance import MaintenanceWindowWorkflow
from workflows.agents.suspension_case import SuspensionCaseWorkflow
from workflows.cancellations import contract as cancellations
from workflows.cancellations.cancellation import CancellationWorkflow
from workflows.complaints import contract as complaints
from workflows.complaints.complaint import CalendarCheckWorkflow, ComplaintWorkflow
from workflows.complaints.fee_return import FeeReturnCreditWorkflow
from workflows.complaints.notice import NoticeDeliveryWorkflow
from workflows.finance import contract as finance
from workflows.finance.invoice import InvoiceMailWorkflow
from workflows.finance.payout import PayoutRetryWorkflow
from workflows.orders import contract as orders
from workflows.orders.order import OrderSettlementWorkflow
from workflows.orders.repair import OrderRepairWorkflow
from workflows.orders.settlement import CarrierSettlementWorkflow, SettlementKickoffWorkflow
from workflows.refunds import contract as refunds
from workflows.refunds.refund import RefundWorkflow
from workflows.refunds.repair import RefundRepairWorkflow
from workflows.refunds.sweep import RefundSweepWorkflow


@dataclass(frozen=True)
class Peers:
    """What activities talk to: Temporal itself, the business database and the counterparties' gateways."""

    client: Client
    engine: Engine
    carrier: CarrierGateway
    sms: SmsGateway
    billing: BillingGateway
    channels: PaymentChannelGateway
    agent_webhooks: AgentWebhookGateway | None = None

    @classmethod
    def from_settings(cls, client: Client, engine: Engine | None = None) -> Peers:
        s = get_settings()
        return cls(client=client, engine=engine or get_engine(),
                   carrier=CarrierGateway(s.carrier_base_url, s.carrier_api_secret, payout_base_url=s.payout_base_url),
                   sms=sms_gateway_from_settings(s), billing=billing_gateway_from_settings(s),
                   channels=PaymentChannelGateway.from_settings(s), agent_webhooks=agent_webhooks_from_settings(s))


@dataclass(frozen=True)
class Business:
    name: str
    task_queue: str
    workflows: tuple[type, ...]
    activities: Callable[[Peers], Sequence[object]]
    search_attributes: tuple[SearchAttributeKey, ...]
    contract: str  # the module the workflows share with the API and the activities (sandbox passthrough)
    # Queues this business's executions may still run on: an execution keeps the queue it started on, so the
    # worker serving such a queue registers this business too, until a visibility query finds none running
    # there (docs/architecture.md, "Task queues").
    former_task_queues: tuple[str, ...] = ()


BUSINESSES: tuple[Business, ...] = (
    Business(
        "orders", orders.TASK_QUEUE,
        (OrderSettlementWorkflow, CarrierSettlementWorkflow, SettlementKickoffWorkflow, OrderRepairWorkflow),
        lambda p: (OrderActivities(p.engine, p.agent_webhooks), CarrierActivities(p.carrier),
                   SettlementActivities(p.engine, p.client, p.carrier), SuspensionCaseActivities(p.client),
                   OrderRepairActivities(p.engine, p.client), FulfilmentActivities(p.engine, p.carrier),
                   DeliveryActivities(p.engine, p.sms, p.agent_webhooks)),
        orders.SEARCH_ATTRIBUTES, orders.__name__,
    ),
    Business(
        "refunds", refunds.TASK_QUEUE,
        (RefundWorkflow, RefundSweepWorkflow, RefundRepairWorkflow),
        lambda p: (RefundActivities(p.engine, p.channels, client=p.client),),
        refunds.SEARCH_ATTRIBUTES, refunds.__name__, former_task_queues=("orders",),
    ),
    Business(
        "complaints", complaints.TASK_QUEUE,
        (ComplaintWorkflow, CalendarCheckWorkflow, FeeReturnCreditWorkflow, NoticeDeliveryWorkflow),
        lambda p: (ComplaintActivities(p.engine, p.sms), FeeReturnActivities(p.engine, p.billing, p.sms)),
        complaints.SEARCH_ATTRIBUTES, complaints.__name__, former_task_queues=("orders",),
    ),
    Business(
        "agents", agents.TASK_QUEUE,
        (AgentAccountWorkflow, MaintenanceWindowWorkflow, SuspensionCaseWorkflow),
        lambda p: (AgentActivities(p.engine, p.agent_webhooks),),
        agents.SEARCH_ATTRIBUTES, agents.__name__,
    ),
    Business(
        "cancellations", cancellations.TASK_QUEUE,
        (CancellationWorkflow,),
        lambda p: (CancellationActivities(p.engine, p.carrier, p.sms),),
        cancellations.SEARCH_ATTRIBUTES, cancellations.__name__,
    ),
    Business(
        "finance", finance.TASK_QUEUE,
        (PayoutRetryWorkflow, InvoiceMailWorkflow),
        lambda p: (FinanceActivities(p.engine, p.carrier, SmtpMailer.finance(get_settings())),),
        finance.SEARCH_ATTRIBUTES, finance.__name__,
    ),
)

WORKFLOWS = [w for b in BUSINESSES for w in b.workflows]
SEARCH_ATTRIBUTES = tuple(k for b in BUSINESSES for k in b.search_attributes)

# Pure, deterministic modules (and the libraries they use) are loaded once, not re-imported into each
# workflow's sandbox: that re-import is most of a workflow start's CPU. Only the workflow modules themselves
# are executed again per run, as the sandbox intends (tests/test_sandbox.py: I/O is still refused).
PASSTHROUGH = ("pydantic", "pydantic_core", "annotated_types", "chinese_calendar", "domain", "opentelemetry",
               *(b.contract for b in BUSINESSES))


def sandbox_runner() -> SandboxedWorkflowRunner:
    """The sandbox every workflow runs in: the default restrictions, with PASSTHROUGH loaded once."""
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))


def compile_workflow_modules() -> None:
    """Bytecode for the workflow modules, which the sandbox executes again for every new run and every replay.
    Without it (PYTHONDONTWRITEBYTECODE, as in our image and on the development machines) each run compiles their
    source again: half of a workflow instance's CPU, measured (docs/performance.md, "The sandbox")."""
    import compileall

    # the workflow modules and their packages, wherever they live (compile_file reports an unwritable cache and
    # goes on: the runs then compile their source, slower but the same)
    sources: set[Path] = set()
    for w in WORKFLOWS:
        module = Path(inspect.getsourcefile(w) or "")
        sources.add(module)
        package = module.parent
        while (package / "__init__.py").exists():
            sources.add(package / "__init__.py")
            package = package.parent
    for source in sorted(s for s in sources if s.suffix == ".py"):
        compileall.compile_file(str(source), quiet=2)


def business(name: str) -> Business:
    for b in BUSINESSES:
        if b.name == name:
            return b
    raise KeyError(f"no business {name!r}; one of {', '.join(b.name for b in BUSINESSES)}")


def activity_methods(objects: Sequence[object]) -> list[Callable]:
    """Every method of these objects that carries `@activity.defn`, in a stable order."""
    found = []
    for obj in objects:
        for _, method in inspect.getmembers(obj, inspect.ismethod):
            if getattr(method, "__temporal_activity_definition", None) is not None:
                found.append(method)
    return found


def queues_of(names: Sequence[str] | None = None) -> dict[str, list[Business]]:
    """The task queues to serve for these businesses (all when None), each with the businesses it runs."""
    chosen = [business(n) for n in names] if names else list(BUSINESSES)
    served: dict[str, list[Business]] = {}
    for queue in dict.fromkeys(b.task_queue for b in chosen):
        served[queue] = [b for b in BUSINESSES if b.task_queue == queue or queue in b.former_task_queues]
    return served


def build_id() -> str:
    """This build's id: SIMBO_WORKER_BUILD_ID (set by the image build), else the checkout's git commit."""
    s = get_settings()
    if s.worker_build_id:
        return s.worker_build_id
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], check=True, capture_output=True,
                                text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], check=True,
                               capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as err:
        raise SystemExit("worker versioning needs a build id: set SIMBO_WORKER_BUILD_ID (no git checkout here)") from err
    return f"{commit}-dirty" if dirty else commit  # two different builds never share an id


def deployment_config() -> WorkerDeploymentConfig | None:
    """Worker Versioning (docs/architecture.md, "Versioning"): every workflow moves to the current build at its
    next task (auto-upgrade), because every behaviour change goes behind `workflow.patched` and old histories
    are replayed in CI. Pinning was weighed: an order lives two months, so a pinned order would keep its build's
    workers running that long. (A `versioning_behavior` on a `@workflow.defn` would also break unversioned
    workers, which refuse it.)"""
    s = get_settings()
    if not s.worker_versioning:
        return None
    return WorkerDeploymentConfig(version=WorkerDeploymentVersion(s.worker_deployment_name, build_id()),
                                  use_worker_versioning=True,
                                  default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE)


def tuning(s: Settings) -> dict:
    """The workflow-task options of every worker (docs/performance.md, "Worker tuning"), 0 leaving the SDK's."""
    options: dict = {"sticky_queue_schedule_to_start_timeout": timedelta(seconds=s.worker_sticky_timeout_s)}
    if s.worker_workflow_tasks:
        options["max_concurrent_workflow_tasks"] = s.worker_workflow_tasks
    if s.worker_workflow_pollers:
        options["workflow_task_poller_behavior"] = PollerBehaviorSimpleMaximum(maximum=s.worker_workflow_pollers)
    return options


def build_workers(peers: Peers, names: Sequence[str] | None = None,
                  executor: ThreadPoolExecutor | None = None) -> list[Worker]:
    s = get_settings()
    versioning = deployment_config()
    executor = executor or ThreadPoolExecutor(max_workers=64)
    compile_workflow_modules()
    runner = sandbox_runner()
    workers = []
    for queue, served in queues_of(names).items():
        workers.append(Worker(
            peers.client,
            task_queue=queue,
            workflows=[w for b in served for w in b.workflows],
            activities=activity_methods([obj for b in served for obj in b.activities(peers)]),
            activity_executor=executor,
            workflow_runner=runner,
            # Every open order is a cached workflow; an evicted one is replayed from its whole history on its
            # next event, so the cache holds all of them (a few KB each) rather than the SDK's default 1000.
            max_cached_workflows=s.max_cached_workflows,
            **tuning(s),
            max_concurrent_activities=64,
            max_concurrent_local_activities=64,
            deployment_config=versioning,
        ))
    return workers


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--business", action="append", choices=[b.name for b in BUSINESSES],
                        help="serve only this business's task queue (repeatable); default: every business")
    args = parser.parse_args()
    s = get_settings()
    logs.configure(json=s.log_json)
    check_secrets(s, "the worker")
    telemetry.configure_tracing("simbo-worker", s)
    peers = Peers.from_settings(await connect(runtime=telemetry.worker_runtime(s)))
    workers = build_workers(peers, args.business)
    version = deployment_config()
    structlog.get_logger().info("worker started", task_queues=list(queues_of(args.business)),
                                temporal=s.temporal_address,
                                metrics=f"http://{s.worker_metrics_address}/metrics" if s.worker_metrics_address else "off",
                                deployment=f"{version.version.deployment_name}:{version.version.build_id}" if version else "unversioned")
    await asyncio.gather(*(w.run() for w in workers))


if __name__ == "__main__":
    asyncio.run(main())
