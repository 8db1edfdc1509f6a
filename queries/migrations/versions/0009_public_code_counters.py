"""a counter of public code numbers per year (codes grow past six digits)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 21:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty at first: a year's counter starts, on its first new report, from that year's highest code.
    op.create_table('public_code_counters',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_public_code_counters'))
    )


def downgrade() -> None:
    op.drop_table('public_code_counters')
