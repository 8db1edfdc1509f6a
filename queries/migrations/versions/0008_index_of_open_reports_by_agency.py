"""partial index of the open reports by agency and deadline (an agency's overdue and due-soon lists)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 09:25:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

OPEN = "status IN ('received', 'classified', 'forwarded', 'in_progress')"


def upgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index('ix_reports_open_agency_deadline', ['agency_id', 'deadline_at'], unique=False,
                              sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))


def downgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_open_agency_deadline', sqlite_where=sa.text(OPEN),
                            postgresql_where=sa.text(OPEN))
