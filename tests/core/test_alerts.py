"""An ops alert is raised once per event, whoever raises it again (a retried activity, the next daily pass)."""

from sqlmodel import Session, select

from core.alerts import OpsAlert, raise_once
from core.db import make_engine
from tests.fixtures_db import migrate


def test_an_alert_is_raised_once_per_key(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    migrate(engine)
    with Session(engine) as s:
        assert raise_once(s, "order-stale-O1-no_shipment-2026-12-01", "order_stale", "O1 has not shipped")
        s.commit()
        assert not raise_once(s, "order-stale-O1-no_shipment-2026-12-01", "order_stale", "O1 has not shipped")
        assert raise_once(s, "order-stale-O2-no_shipment-2026-12-01", "order_stale", "O2 has not shipped")
        s.commit()
        assert [a.message for a in s.exec(select(OpsAlert).order_by(OpsAlert.id)).all()] == [
            "O1 has not shipped", "O2 has not shipped"]
    engine.dispose()
