"""Monthly figures of suspensions and agent accounts: the arithmetic (rounding explicit) and the CSV / XLSX."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from openpyxl import load_workbook
from sqlmodel import Session

from db.agents import SuspensionCase
from domain.agents.reports import AppealLine, CaseLine, account_report, case_report, median_hours, share_pct
from tests.fixtures_db import AGENT, CHILD, bearer

T0 = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)


def test_share_and_median_round_half_up_to_a_tenth():
    assert share_pct(1, 3) == Decimal("33.3") and share_pct(2, 3) == Decimal("66.7") and share_pct(1, 8) == Decimal("12.5")
    assert share_pct(0, 0) is None
    assert median_hours([3600 * 1.25, 3600 * 2]) == Decimal("1.6")  # the median 1.625 h, to a tenth
    assert median_hours([3600 * 1.05]) == Decimal("1.1")
    assert median_hours([]) is None


def test_case_report_groups_by_agent_carrier_and_kind():
    lines = [CaseLine("A1", "china_mobile", "one_way", T0, T0 + timedelta(hours=24), T0 + timedelta(hours=2)),
             CaseLine("A1", "china_mobile", "one_way", T0, T0 + timedelta(hours=24), T0 + timedelta(hours=30)),
             CaseLine("A1", "china_mobile", "one_way", T0, T0 + timedelta(hours=24), None),
             CaseLine("A1", "china_unicom", "risk_control", T0, T0 + timedelta(hours=48), T0 + timedelta(hours=40))]
    assert case_report(lines) == [
        ("A1", "china_mobile", "one_way", 3, 2, 1, Decimal("33.3"), 1, Decimal("16.0")),
        ("A1", "china_unicom", "risk_control", 1, 1, 1, Decimal("100.0"), 0, Decimal("40.0")),
    ]


def test_account_report_counts_categories_outcomes_and_answer_time():
    rows = account_report([("A1", "violation"), ("A1", "arrears"), ("A2", "other")], [
        AppealLine("A1", "upheld", T0, T0 + timedelta(hours=10), False),
        AppealLine("A1", "reinstated", T0, T0 + timedelta(hours=50), True),
        AppealLine("A2", "open", T0, None, True)])
    assert rows == [("A1", 1, 1, 0, 0, 1, 1, 0, 0, 1, Decimal("30.0")), ("A2", 0, 0, 0, 1, 0, 0, 0, 1, 1, None)]


def test_reports_as_csv_and_xlsx_an_agent_sees_its_own_rows(seeded, api_client):
    with Session(seeded) as s:
        for cid, agent in (("O1-1", AGENT), ("O2-1", CHILD)):
            s.add(SuspensionCase(id=cid, order_id=cid[:2], n=1, agent_id=agent, carrier="china_mobile",
                                 msisdn_masked="138****5678", kind="two_way", suspended_at=T0,
                                 window_ends_at=T0 + timedelta(hours=24), state="restored",
                                 restored_at=T0 + timedelta(hours=3)))
        s.commit()
    r = api_client.get("/reports/suspension-cases/202611.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["agent_id", "carrier", "kind", "cases"] and len(rows) == 3
    assert rows[1][6] == "100.0" and rows[1][8] == "3.0"
    mine = api_client.get("/reports/suspension-cases/202611.xlsx", headers=bearer("agent", user="a", agent_id=AGENT))
    sheet = load_workbook(io.BytesIO(mine.content)).active
    assert [c.value for c in sheet["A"]] == ["agent_id", AGENT]
    assert api_client.get("/reports/agent-accounts/202611.csv").status_code == 200
    assert api_client.get("/reports/agent-accounts/2026-11.csv").status_code == 422
