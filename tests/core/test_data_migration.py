"""The customer-data migration converts rows written before it: sealed columns, keyed fingerprints (an order's
number found again from its mask and unkeyed hash), and the lookups work on the converted rows."""

import hashlib
from datetime import UTC, datetime

from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlmodel import Session

from alembic import command
from core import crypto
from db.complaints import Complaint, ComplaintDocument
from tests.fixtures_db import ROOT

NUMBER, OTHER = "13812345678", "13900001111"
AT = datetime(2026, 11, 2, tzinfo=UTC).isoformat(" ")


def legacy(n: str) -> str:
    return hashlib.sha256(n.encode()).hexdigest()[:16]


def alembic(engine, target: str, down: bool = False) -> None:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, target)


def test_rows_written_before_are_sealed_and_fingerprinted_with_the_key(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")  # no foreign keys: rows of three tables suffice
    alembic(engine, "ed8ba8e66e1e")
    with engine.begin() as c:
        c.execute(text("INSERT INTO orders (id, idempotency_key, agent_id, product_id, carrier, msisdn_masked, "
                       "msisdn_fingerprint, placed_at, status, waiting_for, failure_detail, updated_at) VALUES "
                       f"('O1', 'k1', 'A1', 'P1', 'china_mobile', '138****5678', '{legacy(NUMBER)}', '{AT}', 'placed', '', '', '{AT}')"))
        c.execute(text(
            "INSERT INTO complaint (id, idempotency_key, msisdn, msisdn_masked, msisdn_fingerprint, source, customer, ctype, "
            "multi_department, text, receiving_department, handling_department, received_at, level, level_reasons, "
            "due_at, due_limit, due_explanation, calendar_fallback, state, overdue, escalations, supervision_notices, "
            f"cycle, updated_at) VALUES ('C1', 'k1', '{NUMBER}', '138****5678', '{legacy(NUMBER)}', 'hotline', 'standard', "
            f"'billing', 0, '张伟 asks', 'complaint_desk', 'complaint_desk', '{AT}', '3', '', '{AT}', '', '', 0, "
            f"'survey', 0, 0, 0, 1, '{AT}')"))
        c.execute(text("INSERT INTO complaintevent (key, complaint_id, at, kind, actor, detail) VALUES "
                       f"('C1:1', 'C1', '{AT}', 'findings', 'li', 'ID 11010119900307123X')"))
        c.execute(text("INSERT INTO inboundsms (message_id, msisdn_fingerprint, text, received_at, outcome) VALUES "
                       f"('m1', '{legacy(NUMBER)}', '1', '{AT}', ''), ('m2', '{legacy(OTHER)}', '2', '{AT}', '')"))
        c.execute(text("INSERT INTO carriereventrecord (source, event_id, order_id, raw, outcome, error, received_at) "
                       f"VALUES ('china_mobile', 'e1', 'O1', '{{\"to_msisdn\": \"{NUMBER}\"}}', 'ACCEPTED', '', '{AT}')"))
    alembic(engine, "head")
    ring = crypto.key_ring()
    with engine.connect() as c:
        dump = " ".join(str(v) for t in ("orders", "complaint", "complaintevent", "inboundsms", "carriereventrecord")
                        for row in c.execute(text(f"SELECT * FROM {t}")) for v in row)
        assert NUMBER not in dump and "11010119900307123X" not in dump and "张伟" not in dump
        assert legacy(NUMBER) not in dump and legacy(OTHER) not in dump
        assert c.execute(text("SELECT msisdn_fingerprint FROM orders")).scalar() == ring.fingerprint(NUMBER)
        assert dict(c.execute(text("SELECT message_id, msisdn_fingerprint FROM inboundsms")).all()) == {
            "m1": ring.fingerprint(NUMBER), "m2": ""}
    with Session(engine) as s:  # the ORM reads them in clear, and finds the ticket by its keyed fingerprint
        row = s.get(Complaint, "C1")
        assert row.msisdn == NUMBER and row.text == "张伟 asks" and row.msisdn_fingerprint == ring.fingerprint(NUMBER)
    alembic(engine, "ed8ba8e66e1e", down=True)
    with engine.connect() as c:
        assert c.execute(text("SELECT msisdn, msisdn_fingerprint FROM complaint")).one() == (NUMBER, legacy(NUMBER))


def test_complaint_documents_archived_before_are_sealed_and_read_back_clear(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    alembic(engine, "5aa7a23c89fa")
    letter = "客户来函: 张伟, 13812345678".encode()
    with engine.begin() as c:
        c.execute(text("INSERT INTO complaintdocument (complaint_id, name, media_type, size, sha256, content, note, "
                       "uploaded_by, uploaded_at) VALUES ('C1', 'letter.txt', 'text/plain', :n, :h, :c, '', 'li', :at)"),
                  {"n": len(letter), "h": hashlib.sha256(letter).hexdigest(), "c": letter, "at": AT})
    alembic(engine, "head")
    with engine.connect() as c:
        stored = bytes(c.execute(text("SELECT content FROM complaintdocument")).scalar())
    assert stored.startswith(crypto.SEALED_BYTES_PREFIX) and "张伟".encode() not in stored and b"13812345678" not in stored
    with Session(engine) as s:
        assert s.get(ComplaintDocument, 1).content == letter
    alembic(engine, "5aa7a23c89fa", down=True)
    with engine.connect() as c:
        assert bytes(c.execute(text("SELECT content FROM complaintdocument")).scalar()) == letter


def test_rejected_carrier_events_are_keyed_by_a_keyed_hash(tmp_path):
    from services.orders.carrier_events import rejected_key

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    alembic(engine, "c4d5e6f7a8b9")
    bad = '{"event_id": "e9", "order_id": "O1", "kind": "teleported", "to_msisdn": "13812345678"}'  # no such kind
    old_key = "e9#rejected-" + hashlib.sha256(bad.encode()).hexdigest()[:16]
    with engine.begin() as c:
        c.execute(text("INSERT INTO carriereventrecord (source, event_id, order_id, raw, outcome, error, received_at) "
                       "VALUES ('china_mobile', :e, NULL, :raw, 'REJECTED', 'not JSON', :at)"),
                  {"e": old_key, "raw": crypto.seal(bad), "at": AT})
    alembic(engine, "head")
    with engine.connect() as c:
        [key] = c.execute(text("SELECT event_id FROM carriereventrecord")).scalars().all()
    assert key == rejected_key(bad) and key != old_key and key.startswith("e9#rejected-dev1.")
