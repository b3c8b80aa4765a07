"""The start banner's Web UI filters come from the demo data, and each matches at least one workflow on a fresh
demo (the whole system as `make run` starts it, on free ports)."""

import asyncio

import pytest
from sqlmodel import Session

from core import db as core_db
from core.settings import get_settings
from scripts.demo import state as demo_state
from scripts.stack import Ports, Stack


@pytest.fixture
def fresh_stack(tmp_path, monkeypatch):
    stack = Stack(var=tmp_path, ports=Ports.free(), ui=False, daily_every=0, quiet=True)
    for key in ("SIMBO_DATABASE_URL", "SIMBO_TEMPORAL_ADDRESS", "SIMBO_API_BASE_URL", "SIMBO_CARRIER_BASE_URL",
                "SIMBO_PAYOUT_BASE_URL", "SIMBO_SMS_BASE_URL", "SIMBO_BILLING_BASE_URL", "SIMBO_CHANNEL_BASE_URL"):
        monkeypatch.setenv(key, stack.env[key])
    monkeypatch.setattr(demo_state, "VAR", tmp_path)  # the "loaded once" markers of this stack, not of var/
    get_settings.cache_clear()
    core_db.get_engine.cache_clear()
    stack.start()
    yield stack
    stack.stop()
    get_settings.cache_clear()
    core_db.get_engine.cache_clear()


async def test_every_filter_the_banner_prints_matches_a_workflow(fresh_stack):
    from core.temporal import connect
    from scripts.demo.filters import web_ui_filters
    from scripts.dev import after_start

    await after_start(fresh_stack)
    client = await connect(fresh_stack.temporal_address)
    wanted = {"failed orders", "settlement month", "stale orders", "overdue complaints", "refunds in manual review"}
    filters: dict[str, str] = {}
    counts: dict[str, int] = {}
    for _ in range(120):  # workflows publish their state a moment after the demo's requests; visibility follows
        with Session(core_db.get_engine()) as session:
            filters = web_ui_filters(session)
        counts = {name: (await client.count_workflows(q)).count for name, q in filters.items()}
        if set(filters) >= wanted and all(counts.values()):
            break
        await asyncio.sleep(1)
    assert set(filters) >= wanted, f"no demo data for {wanted - set(filters)}"
    assert all(counts.values()), {name: (filters[name], n) for name, n in counts.items() if not n}
    # finance's demo (scripts/demo/finance.py): an invoice in every state, mailed to the sink; A003's payout refused;
    # China Unicom's audit differs from our figures
    from sqlmodel import select

    from db.finance import Invoice, PayoutException, ReconciliationLine

    with Session(core_db.get_engine()) as session:
        assert {i.state for i in session.exec(select(Invoice))} == {"requested", "issued", "voided", "refused"}
        assert session.exec(select(PayoutException).where(PayoutException.agent_id == "A003")).first() is not None
        assert session.exec(select(ReconciliationLine).where(ReconciliationLine.cause == "rate_change")).first()
    for _ in range(60):  # the mails go out from their workflows a moment after the decisions
        if len(list((fresh_stack.var / "mail").glob("*.eml"))) >= 3:
            break
        await asyncio.sleep(1)
    assert len(list((fresh_stack.var / "mail").glob("*.eml"))) >= 3  # issued, re-issued, refused
