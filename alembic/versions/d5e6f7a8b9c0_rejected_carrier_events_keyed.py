"""rejected carrier events keyed by a keyed hash of their content (a bad line may carry a full number)

Revision ID: d5e6f7a8b9c0
Revises: c4d5e6f7a8b9
Create Date: 2026-12-02 13:10:00

Runs with the production key ring (SIMBO_DATA_KEYS), like 3c0f6b2a9d17. A rejected event's id was
`<event id or nothing>#rejected-<16 hex of SHA-256>`; it becomes `...#rejected-<key id>.<32 hex of HMAC-SHA256>`,
as services/orders/carrier_events.py writes it now. There is no way back to the unkeyed hash (by design): downgrade
leaves the keyed ids.
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from core import crypto

revision: str = 'd5e6f7a8b9c0'
down_revision: str | Sequence[str] | None = 'c4d5e6f7a8b9'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARK = "#rejected-"


def upgrade() -> None:
    conn = op.get_bind()
    ring = crypto.key_ring()
    rows = conn.execute(sa.text("SELECT id, event_id, raw FROM carriereventrecord WHERE outcome = 'REJECTED'")).all()
    for row_id, event_id, raw in rows:
        prefix, mark, digest = event_id.rpartition(MARK)
        if not mark or "." in digest:  # not a content key, or keyed already
            continue
        keyed = f"{prefix}{MARK}{ring.fingerprint(ring.unseal(raw))}"
        conn.execute(sa.text("UPDATE carriereventrecord SET event_id = :e WHERE id = :id"), {"e": keyed, "id": row_id})


def downgrade() -> None:
    pass
