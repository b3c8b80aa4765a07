"""`make run`: the whole system on embedded defaults, in one terminal. Ctrl-C stops everything it started.

Temporal dev server (state in var/temporal.db, Web UI on :8233), business database (var/simbo.db,
migrated), carrier simulator (:8100), payment-channel simulator (:8300), SMS + billing simulator (:8200), worker, API (:8000),
the codec server the Web UI decodes payloads with (:8400), the monthly
settlement Schedules, the refund sweep Schedule and the demo data (loaded once). Running it again resumes
the same state, workflows included.
"""

import asyncio
import signal
import time

from core.settings import VAR, get_settings
from scripts.stack import Ports, Stack
from scripts.users import DEMO_PASSWORD, DEMO_USERS


async def after_start(stack: Stack) -> None:
    from sqlmodel import Session

    from core.db import get_engine
    from core.temporal import connect
    from scripts.demo.agents import load_agent_demo_once
    from scripts.demo.cancellations import load_cancellation_demo_once
    from scripts.demo.complaints import load_complaint_demo_once
    from scripts.demo.delivery import load_delivery_demo_once
    from scripts.demo.finance import load_finance_demo_once
    from scripts.demo.fulfilment import load_fulfilment_demo_once
    from scripts.demo.orders import load_order_demo_once
    from scripts.demo.refunds import load_refund_demo_once
    from scripts.setup import set_up
    from scripts.users import ensure_demo_users

    client = await connect(stack.temporal_address)
    # search attributes (a dev-server state file from an older version lacks the newer ones) and Schedules
    await set_up(client)
    # each business's demo data, each loaded once (scripts/demo/state.py)
    await load_complaint_demo_once(stack.api_url, stack.sms_billing_url)
    await load_refund_demo_once(stack.api_url, stack.channel_url, get_engine())
    await load_order_demo_once(client, stack.api_url, stack.simulator_url)
    with Session(get_engine()) as session:  # the demo agent's user, now that its agent exists
        ensure_demo_users(session)
    await load_delivery_demo_once(client, stack.api_url, stack.simulator_url)  # as demo-agent, before the agents demo suspends A002
    await load_agent_demo_once(stack.api_url)  # suspensions, appeals and cases on the orders demo's agents
    await load_cancellation_demo_once(client, stack.api_url, stack.simulator_url)
    await load_finance_demo_once(stack.api_url)  # invoices, once last month's batches have closed
    await load_fulfilment_demo_once(stack.api_url, stack.simulator_url)


def filters_text() -> str:
    """The Web UI filters of the data that is there (scripts/demo/filters.py), one line each."""
    from sqlmodel import Session

    from core.db import get_engine
    from scripts.demo.filters import web_ui_filters

    with Session(get_engine()) as session:
        found = web_ui_filters(session)
    return "\n".join(f"    {name:<26} {query}" for name, query in found.items()) or "    (no demo data yet)"


def main() -> None:
    s = get_settings()
    metrics_port = int(s.worker_metrics_address.rsplit(":", 1)[1]) if s.worker_metrics_address else Ports.worker_metrics
    stack = Stack(var=VAR, ports=Ports(ui=s.temporal_ui_port, codec=s.codec_port, worker_metrics=metrics_port),
                  database_url=s.database_url)

    def stop(*_):
        print("\nStopping ...")
        stack.stop()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print("Starting (state and logs in var/) ...")
    try:
        stack.start()
        asyncio.run(after_start(stack))
        worker_metrics = f"http://127.0.0.1:{metrics_port}/metrics"
        print(READY.format(ui=s.temporal_ui_port, codec=stack.codec_url, users=", ".join(n for n, _, _ in DEMO_USERS),
                           password=DEMO_PASSWORD, filters=filters_text(), worker_metrics=worker_metrics,
                           tracing=s.tracing))
        while True:
            stack.check_alive()
            time.sleep(1)
    except RuntimeError as err:  # a process died: say which, stop the rest
        print(err)
    finally:
        stack.stop()


READY = """
Ready.
  Temporal Web UI   http://localhost:{ui}   (each workflow: Summary, current details, named timers)
  Decoded histories {codec}/sign-in   sign in there (demo-ops reads customer data, demo-viewer does not),
                    then in the Web UI's codec settings switch on "include cross-origin credentials";
                    without it every payload shows encrypted (binary/encrypted)
  Web UI filters    from the demo data (README, "Reading the Web UI": columns and saved views)
{filters}
  API + OpenAPI     http://localhost:8000/docs   ("Authorize": sign in as a demo user below)
  Sign in           {users}
                    password {password}   (POST /auth/token; `python -m scripts.users` adds, disables, re-roles)
  Orders            http://localhost:8000/orders?limit=20
  One order         http://localhost:8000/orders/<id>   (live five-condition checklist)
  Settlements       http://localhost:8000/settlements
  Delivery          http://localhost:8000/orders/tracking?limit=20   (.csv / .xlsx: each link's time)
                    /orders/kpis?month=<yyyymm>   /orders/stale   /rescue-tasks?state=open (as demo-agent: contacts,
                    POST /rescue-tasks/<id>/close)   reminders: /agents/A002/inbox   Web UI filter: OrderStale = true
  Agent accounts    http://localhost:8000/agents/A002   (suspended, open appeal; timeline, appeals, held commission)
                    /appeals?state=open   /agents/A002/inbox   /maintenance-windows   (A003: lifted by arrears paid)
  Suspension cases  http://localhost:8000/suspension-cases?state=overdue   (steps, recovery window; on /orders/<id>)
  Agent reports     http://localhost:8000/reports/suspension-cases/<yyyymm>.csv   /reports/agent-accounts/<yyyymm>.xlsx
  Unknown events    http://localhost:8000/carrier-events?outcome=unknown_order
  Complaints        http://localhost:8000/complaints?state=overdue   (one: /complaints/<id>, why level and due)
  Complaint KPIs    http://localhost:8000/complaints/kpis?month=<yyyymm>  (.csv / .xlsx)
  Working days      http://localhost:8000/complaints/calendar/<year>  (PUT to load next year's official schedule)
  SMS + billing sim http://localhost:8200/sim/sms   /sim/credits   POST /sim/reply {{"from": ..., "text": ...}}
  Cancellations     http://localhost:8000/cancellations?state=todo   (one: /cancellations/<id>, /timeline)
                    Web UI filter: CancellationState="cooling_off", CancellationState="todo" AND Carrier="china_unicom"
                    report: /cancellations/report?month=<yyyymm> (.csv / .xlsx); sign in as demo-clerk or demo-app
  Finance           http://localhost:8000/payout-exceptions?state=open   (A003's account refused; POST .../retry
                    {{"new_account": "6222020200112233445"}} as demo-finance)   /finance/month-end/<yyyymm> (.csv/.xlsx)
                    /settlements/<batch>/reconciliation   /settlements/<batch>/report.xlsx   /invoices (PDF: /invoices/<id>.pdf)
                    mailed invoices: var/mail/*.eml (the local SMTP sink on :8025)
  Refunds           http://localhost:8000/refunds?status=manual_review   (one: /refunds/<id>, with history)
  Refund ops        POST /refunds/<id>/{{approve,reject,force_success,force_fail,mark_succeeded_offline,retry_new_serial}}
  Error table       http://localhost:8000/refund-error-mappings   channels: /refund-channels
  Simulator         http://localhost:8100/sim/stats   payment channels: http://localhost:8300/sim/stats
  Metrics           http://localhost:8000/metrics (API: requests, business gauges; internal)   worker: {worker_metrics}
  Traces            SIMBO_TRACING={tracing} (console or otlp to see spans; compose sends them to Jaeger)
  Logs              var/*.log
Ctrl-C stops everything; `make run` again resumes the same state."""


if __name__ == "__main__":
    main()
