"""partial index of the reports waiting at the IOC (the triage queue)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 21:25:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

WAITING = "status IN ('received', 'classified')"


def upgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index('ix_reports_waiting_created', ['created_at'], unique=False,
                              sqlite_where=sa.text(WAITING), postgresql_where=sa.text(WAITING))


def downgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_waiting_created', sqlite_where=sa.text(WAITING),
                            postgresql_where=sa.text(WAITING))
