"""the businesses that landed beside customer data protection: cancellations' numbers sealed, keyed fingerprints
for cancellations and quarantined numbers, the one-return-per-charge claims rebuilt under the keyed fingerprints

Revision ID: b7e1c2d3f4a5
Revises: 3c0f6b2a9d17
Create Date: 2026-12-02 00:20:00

Runs with the production key ring (SIMBO_DATA_KEYS), like 3c0f6b2a9d17.
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from core import crypto

revision: str = 'b7e1c2d3f4a5'
down_revision: str | Sequence[str] | None = '3c0f6b2a9d17'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    ring = crypto.key_ring()
    for cid, msisdn, open_key in conn.execute(sa.text("SELECT id, msisdn, open_number_key FROM cancellation")).all():
        number = ring.unseal(msisdn) if msisdn.startswith(crypto.SEALED_PREFIX) else msisdn
        fp = ring.fingerprint(number)
        conn.execute(sa.text("UPDATE cancellation SET msisdn = :m, msisdn_fingerprint = :fp, open_number_key = :ok "
                             "WHERE id = :id"),
                     {"m": ring.seal(number), "fp": fp, "ok": fp if open_key else None, "id": cid})
        conn.execute(sa.text("UPDATE numberquarantine SET msisdn_fingerprint = :fp WHERE cancellation_id = :id"),
                     {"fp": fp, "id": cid})
    # the claims follow their fee returns' (re-keyed) fingerprints
    conn.execute(sa.text("DELETE FROM fee_return_charge"))
    conn.execute(sa.text("""
        INSERT INTO fee_return_charge (msisdn_fingerprint, charge_month, fee_return_id)
        SELECT f.msisdn_fingerprint, f.charge_month, MIN(f.id) FROM feereturn f
        WHERE f.top_up_of IS NULL AND f.status IN ('awaiting_approval', 'awaiting_audit', 'approved', 'credited',
                                                   'credit_failed')
        GROUP BY f.msisdn_fingerprint, f.charge_month
    """))


def downgrade() -> None:
    conn = op.get_bind()
    ring = crypto.key_ring()
    for cid, msisdn in conn.execute(sa.text("SELECT id, msisdn FROM cancellation")).all():
        if msisdn.startswith(crypto.SEALED_PREFIX):
            conn.execute(sa.text("UPDATE cancellation SET msisdn = :m WHERE id = :id"),
                         {"m": ring.unseal(msisdn), "id": cid})
