"""delivery: the links of the order-tracking table and the stale flag on orders, the
rescue task's close and give-up time, contact attempts, delivery SMS

Revision ID: 5aa7a23c89fa
Revises: 2db117fb15fa
Create Date: 2026-12-02 06:44:22

Rows of orders placed before it have no link times: the workflow fills them at its next report.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401

import core.db  # noqa: F401  (column types)
from alembic import op

revision: str = '5aa7a23c89fa'
down_revision: str | Sequence[str] | None = '2db117fb15fa'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('deliverysms',
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('to_masked', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('sent_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('message_id')
    )
    with op.batch_alter_table('deliverysms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deliverysms_order_id'), ['order_id'], unique=False)

    op.create_table('rescuecontact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('note', core.db.SealedText(), nullable=False),
    sa.Column('by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('recorded_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['rescuetask.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rescuecontact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rescuecontact_task_id'), ['task_id'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('carrier_accepted_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('tracking_no', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('shipped_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('signed_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('activated_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('recharged_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('in_network_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('stale_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('stale_since', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_orders_stale_reason'), ['stale_reason'], unique=False)

    with op.batch_alter_table('rescuetask', schema=None) as batch_op:
        batch_op.add_column(sa.Column('msisdn_masked', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('last_reminder_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('give_up_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('closed_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('close_note', core.db.SealedText(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('close_signalled_at', core.db.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('rescuetask', schema=None) as batch_op:
        batch_op.drop_column('close_signalled_at')
        batch_op.drop_column('close_note')
        batch_op.drop_column('closed_by')
        batch_op.drop_column('give_up_at')
        batch_op.drop_column('last_reminder_key')
        batch_op.drop_column('msisdn_masked')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_stale_reason'))
        batch_op.drop_column('stale_since')
        batch_op.drop_column('stale_reason')
        batch_op.drop_column('in_network_at')
        batch_op.drop_column('recharged_at')
        batch_op.drop_column('activated_at')
        batch_op.drop_column('signed_at')
        batch_op.drop_column('shipped_at')
        batch_op.drop_column('tracking_no')
        batch_op.drop_column('carrier_accepted_at')

    with op.batch_alter_table('rescuecontact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rescuecontact_task_id'))

    op.drop_table('rescuecontact')
    with op.batch_alter_table('deliverysms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliverysms_order_id'))

    op.drop_table('deliverysms')
