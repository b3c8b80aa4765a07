"""complaint documents sealed at rest: the special-channel archive's letters and forms are encrypted with the key ring

Revision ID: c4d5e6f7a8b9
Revises: 5aa7a23c89fa
Create Date: 2026-12-02 13:00:00

Runs with the production key ring (SIMBO_DATA_KEYS), like 3c0f6b2a9d17. The column's type stays a binary one.
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from core import crypto

revision: str = 'c4d5e6f7a8b9'
down_revision: str | Sequence[str] | None = '5aa7a23c89fa'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    ring = crypto.key_ring()
    for doc_id, content in conn.execute(sa.text("SELECT id, content FROM complaintdocument")).all():
        content = bytes(content)
        if content and not content.startswith(crypto.SEALED_BYTES_PREFIX):
            conn.execute(sa.text("UPDATE complaintdocument SET content = :c WHERE id = :id"),
                         {"c": ring.seal_bytes(content), "id": doc_id})


def downgrade() -> None:
    conn = op.get_bind()
    ring = crypto.key_ring()
    for doc_id, content in conn.execute(sa.text("SELECT id, content FROM complaintdocument")).all():
        content = bytes(content)
        if content.startswith(crypto.SEALED_BYTES_PREFIX):
            conn.execute(sa.text("UPDATE complaintdocument SET content = :c WHERE id = :id"),
                         {"c": ring.unseal_bytes(content), "id": doc_id})
