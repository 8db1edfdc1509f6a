"""sla policies, stage deadlines, work calendar

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 16:43:15.644516
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('app_settings',
    sa.Column('key', sa.String(length=60), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_app_settings'))
    )
    op.create_table('work_calendar',
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('working', sa.SmallInteger(), nullable=False),
    sa.Column('working_days_through', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_work_calendar'))
    )
    op.create_table('sla_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('urgent', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('ioc_limit', sa.Float(), nullable=False),
    sa.Column('agency_limit', sa.Float(), nullable=False),
    sa.Column('unit', sa.String(length=10), nullable=False),
    sa.Column('valid_from', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.Column('note', sa.String(length=300), server_default='', nullable=False),
    sa.CheckConstraint("unit IN ('days', 'hours')", name=op.f('ck_sla_policies_unit')),
    sa.CheckConstraint('ioc_limit >= 0 AND agency_limit >= 0', name=op.f('ck_sla_policies_limits')),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_sla_policies_category_id_categories')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_policies'))
    )
    with op.batch_alter_table('sla_policies', schema=None) as batch_op:
        batch_op.create_index('ix_sla_policies_lookup', ['category_id', 'urgent', 'valid_from'], unique=True)

    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('urgent', sa.SmallInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('sla_policy_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('ioc_deadline_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('first_forwarded_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('agency_deadline_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('ioc_work_days', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('agency_work_days', sa.Float(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_reports_sla_policy_id_sla_policies'), 'sla_policies', ['sla_policy_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_reports_sla_policy_id_sla_policies'), type_='foreignkey')
        batch_op.drop_column('agency_work_days')
        batch_op.drop_column('ioc_work_days')
        batch_op.drop_column('agency_deadline_at')
        batch_op.drop_column('first_forwarded_at')
        batch_op.drop_column('ioc_deadline_at')
        batch_op.drop_column('sla_policy_id')
        batch_op.drop_column('urgent')

    with op.batch_alter_table('sla_policies', schema=None) as batch_op:
        batch_op.drop_index('ix_sla_policies_lookup')

    op.drop_table('sla_policies')
    op.drop_table('work_calendar')
    op.drop_table('app_settings')
