"""customer data protection: seal personal columns, keyed fingerprints

Revision ID: 3c0f6b2a9d17
Revises: 73fec8cd52e7
Create Date: 2026-12-01 23:30:00

No column changes type: sealed values are strings (`enc1:<key id>:<base64>`). Existing rows are converted with
the key ring of the settings the migration runs with (SIMBO_DATA_KEYS), so run it with the production ring:

- the full number, the customer's words, handlers' free text, inbound SMS and raw carrier pushes are sealed;
- every fingerprint becomes the keyed one (HMAC). A complaint's comes from its full number, its fee returns and
  inbound SMS follow it; an order never stored its number, so its number is found again from the mask and the
  old unkeyed hash (10^4 candidates: exactly the weakness this closes), then only the keyed fingerprint is kept.

Downgrade unseals the columns and gives complaints back their unkeyed fingerprints; orders keep the keyed ones
(their numbers are not stored).
"""
import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401

import core.db  # noqa: F401  (column types)
from alembic import op
from core import crypto

revision: str = '3c0f6b2a9d17'
down_revision: str | Sequence[str] | None = '73fec8cd52e7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEALED = [("complaint", "id", ("msisdn", "text")), ("complaintevent", "id", ("detail",)),
          ("inboundsms", "message_id", ("text",)), ("carriereventrecord", "id", ("raw",))]


def _legacy(msisdn: str) -> str:
    return hashlib.sha256(msisdn.strip().encode()).hexdigest()[:16]


def _recover(masked: str, legacy: str) -> str | None:
    """The number behind an unkeyed fingerprint and its mask (first 3 + last 4 digits)."""
    if len(masked) != 11 or masked[3:7] != "****":
        return None
    for middle in range(10_000):
        candidate = f"{masked[:3]}{middle:04d}{masked[7:]}"
        if _legacy(candidate) == legacy:
            return candidate
    return None


def _rows(conn, sql: str, **params):
    return conn.execute(sa.text(sql), params).all()


def upgrade() -> None:
    conn = op.get_bind()
    ring = crypto.key_ring()
    for table, key, columns in SEALED:
        for row in _rows(conn, f"SELECT {key}, {', '.join(columns)} FROM {table}"):
            values = {c: ring.seal(v) for c, v in zip(columns, row[1:], strict=True)
                      if v and not v.startswith(crypto.SEALED_PREFIX)}
            if values:
                sets = ", ".join(f"{c} = :{c}" for c in values)
                conn.execute(sa.text(f"UPDATE {table} SET {sets} WHERE {key} = :k"), {**values, "k": row[0]})

    keyed: dict[str, str] = {}  # old unkeyed fingerprint -> keyed, for the rows that only hold the fingerprint
    for cid, sealed_msisdn, old in _rows(conn, "SELECT id, msisdn, msisdn_fingerprint FROM complaint"):
        new = ring.fingerprint(ring.unseal(sealed_msisdn))
        keyed[old] = new
        conn.execute(sa.text("UPDATE complaint SET msisdn_fingerprint = :fp WHERE id = :id"), {"fp": new, "id": cid})
    conn.execute(sa.text("UPDATE feereturn SET msisdn_fingerprint = (SELECT c.msisdn_fingerprint FROM complaint c "
                         "WHERE c.id = feereturn.complaint_id)"))
    for mid, old in _rows(conn, "SELECT message_id, msisdn_fingerprint FROM inboundsms"):
        if "." not in old:  # an answer from a number no complaint knows: the unkeyed hash goes, nothing replaces it
            conn.execute(sa.text("UPDATE inboundsms SET msisdn_fingerprint = :fp WHERE message_id = :id"),
                         {"fp": keyed.get(old, ""), "id": mid})
    for oid, masked, old in _rows(conn, "SELECT id, msisdn_masked, msisdn_fingerprint FROM orders"):
        if "." in old:
            continue
        number = _recover(masked, old)
        if number is not None:
            conn.execute(sa.text("UPDATE orders SET msisdn_fingerprint = :fp WHERE id = :id"),
                         {"fp": ring.fingerprint(number), "id": oid})


def downgrade() -> None:
    conn = op.get_bind()
    ring = crypto.key_ring()
    for table, key, columns in SEALED:
        for row in _rows(conn, f"SELECT {key}, {', '.join(columns)} FROM {table}"):
            values = {c: ring.unseal(v) for c, v in zip(columns, row[1:], strict=True)
                      if v and v.startswith(crypto.SEALED_PREFIX)}
            if values:
                sets = ", ".join(f"{c} = :{c}" for c in values)
                conn.execute(sa.text(f"UPDATE {table} SET {sets} WHERE {key} = :k"), {**values, "k": row[0]})
    for cid, msisdn in _rows(conn, "SELECT id, msisdn FROM complaint"):
        conn.execute(sa.text("UPDATE complaint SET msisdn_fingerprint = :fp WHERE id = :id"),
                     {"fp": _legacy(msisdn), "id": cid})
    conn.execute(sa.text("UPDATE feereturn SET msisdn_fingerprint = (SELECT c.msisdn_fingerprint FROM complaint c "
                         "WHERE c.id = feereturn.complaint_id)"))
