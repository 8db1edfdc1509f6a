"""partial index of the open reports by agency, status and deadline (an agency's work list and its counts)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 18:15:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

OPEN = "status IN ('received', 'classified', 'forwarded', 'in_progress')"


def upgrade() -> None:
    op.create_index('ix_reports_open_agency_status_deadline', 'reports', ['agency_id', 'status', 'deadline_at'],
                    unique=False, sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))


def downgrade() -> None:
    op.drop_index('ix_reports_open_agency_status_deadline', table_name='reports')
