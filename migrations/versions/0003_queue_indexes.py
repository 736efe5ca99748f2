"""Queue index: open orders without a running deadline, by id (the desk queue's second keyset read).

The desk queue reads open orders by nearest deadline, then those without one (paused, or every clock
stopped or breached) by id. Without this index that second read walks the primary key through every
closed order first: about a second on the benchmark's 1,000,000 orders (bench/README.md); with it, a few
milliseconds. Partial, so it holds only the open orders without a deadline.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 06:05:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

OPEN_UNDUE = sa.text(
    "next_due IS NULL AND status IN ('reported', 'accepted', 'responded', 'on_site', 'paused')"
)


def upgrade():
    with op.batch_alter_table('work_order', schema=None) as batch_op:
        batch_op.create_index('ix_work_order_open_undue', ['id'], unique=False,
                              postgresql_where=OPEN_UNDUE, sqlite_where=OPEN_UNDUE)


def downgrade():
    with op.batch_alter_table('work_order', schema=None) as batch_op:
        batch_op.drop_index('ix_work_order_open_undue', postgresql_where=OPEN_UNDUE, sqlite_where=OPEN_UNDUE)
