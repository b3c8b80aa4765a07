"""The API's internal doors for ops: /metrics (request metrics and business gauges) and the offline /docs and
/redoc pages (their assets come from the API, never a CDN)."""

import re

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from core.settings import get_settings
from db.complaints import Complaint
from db.orders import CommissionLineRecord
from tests.fixtures_db import bearer


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture
def local_client(api_app):
    with TestClient(api_app, client=("127.0.0.1", 40000), headers=bearer("admin")) as client:
        yield client


def test_metrics_count_requests_by_route_template_and_show_business_gauges(local_client, db):
    from sqlmodel import Session

    with Session(db) as s:
        before = _samples(local_client.get("/metrics").text)
        s.add(CommissionLineRecord(order_id="M-1", agent_id="A001", role="seller", carrier="china_mobile",
                                   month="202611", amount_fen=1234))
        s.commit()
    local_client.get("/orders/NO-SUCH-ORDER")
    text = local_client.get("/metrics").text
    got = _samples(text)
    key = ("simbo_http_requests_total", (("method", "GET"), ("route", "/orders/{order_id}"), ("status", "404")))
    assert got[key] == before.get(key, 0) + 1
    assert "NO-SUCH-ORDER" not in text  # the route's template, never the id
    payable = ("simbo_commission_fen", (("status", "payable"),))
    assert got[payable] == before.get(payable, 0) + 1234
    assert ("simbo_complaints_overdue", ()) in got
    assert "# TYPE simbo_orders gauge" in text and "# TYPE simbo_refunds gauge" in text


def test_overdue_complaints_gauge_counts_open_overdue_tickets_only(local_client, db):
    from sqlmodel import Session, select

    with Session(db) as s:
        rows = s.exec(select(Complaint)).all()
        expected = sum(1 for r in rows if r.overdue and r.closed_at is None)
    assert _samples(local_client.get("/metrics").text)[("simbo_complaints_overdue", ())] == expected


def test_metrics_are_internal_without_a_token(api_app):
    with TestClient(api_app, client=("1.2.3.4", 40000)) as outside:
        r = outside.get("/metrics")
        assert r.status_code == 403 and r.json()["type"] == "internal_only"


def test_metrics_need_the_scrape_token_when_one_is_set(api_app, monkeypatch):
    monkeypatch.setattr(get_settings(), "metrics_token", "scrape-secret")
    with TestClient(api_app, client=("127.0.0.1", 40000)) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"}).status_code == 200


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_every_asset_from_the_api(anonymous_client, page):
    html = anonymous_client.get(page).text
    assert "http://" not in html and "https://" not in html, "a page that needs the internet"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
    assert any(a.endswith(".js") for a in assets)
    for url in assets:
        assert anonymous_client.get(url).status_code == 200, url
