"""Rotating the data key: a new active key writes, the old one still reads, `scripts.keys reseal` moves the
database onto the new key, and lookups by fingerprint find the rows before and after."""

from datetime import UTC, datetime

from sqlmodel import Session, col, select

from core import crypto
from core.settings import Settings
from db.complaints import Complaint, ComplaintDocument
from scripts import keys

NUMBER = "13812345678"
LETTER = "张伟的来函".encode()
AT = datetime(2026, 11, 2, tzinfo=UTC)


def complaint(cid: str) -> Complaint:
    return Complaint(id=cid, idempotency_key=cid, msisdn=NUMBER, msisdn_masked="138****5678",
                     msisdn_fingerprint=crypto.fingerprint(NUMBER), source="hotline", customer="standard", ctype="billing",
                     text="张伟 asks", receiving_department="complaint_desk", handling_department="complaint_desk",
                     received_at=AT, level="3", due_at=AT, state="survey")


def document(cid: str) -> ComplaintDocument:
    return ComplaintDocument(complaint_id=cid, name="letter.txt", media_type="text/plain", size=len(LETTER),
                             sha256="-", content=LETTER, uploaded_by="li")


def test_rotation_reads_old_rows_writes_new_ones_and_reseal_moves_everything(db, monkeypatch):
    with Session(db) as s:
        s.add(complaint("C-old"))
        s.flush()
        s.add(document("C-old"))
        s.commit()
    rotated = Settings(data_keys=keys.new_key("k2") + "," + crypto.DEV_DATA_KEYS, data_key_active="k2")
    monkeypatch.setattr(crypto, "get_settings", lambda: rotated)
    with Session(db) as s:
        s.add(complaint("C-new"))
        s.commit()
        counts = keys.usage(s)
        assert counts["complaint.msisdn"] == {"dev1": 1, "k2": 1}
        assert counts["complaintdocument.content"] == {"dev1": 1}
        assert counts["complaint.msisdn_fingerprint"] == {"dev1": 1, "k2": 1}
        found = s.exec(select(Complaint.id).where(col(Complaint.msisdn_fingerprint).in_(crypto.fingerprints(NUMBER)))).all()
        assert sorted(found) == ["C-new", "C-old"]  # a repeat is found across the rotation
        assert keys.reseal(s) >= 2
        counts = keys.usage(s)
        assert counts["complaint.msisdn"] == {"k2": 2} and counts["complaint.text"] == {"k2": 2}
        assert counts["complaint.msisdn_fingerprint"] == {"k2": 2}
        assert counts["complaintdocument.content"] == {"k2": 1}
        s.expire_all()
        assert {c.msisdn for c in s.exec(select(Complaint))} == {NUMBER}
        assert [d.content for d in s.exec(select(ComplaintDocument))] == [LETTER]
