"""workflow: close reasons, duplicates, proof media, audit log, routing rules, login failures

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 19:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('close_reason', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('duplicate_of_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_reports_duplicate_of_id_reports'), 'reports', ['duplicate_of_id'],
                                    ['id'])
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=10), server_default='citizen', nullable=False))
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('target', sa.String(length=100), server_default='', nullable=False),
    sa.Column('detail', sa.Text(), server_default='', nullable=False),
    sa.Column('ip', sa.String(length=64), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_log_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_at', ['at'], unique=False)
        batch_op.create_index('ix_audit_log_action_at', ['action', 'at'], unique=False)
        batch_op.create_index('ix_audit_log_target', ['target'], unique=False)
    op.create_table('routing_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('commune_code', sa.String(length=10), nullable=True),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_routing_rules_agency_id_agencies')),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'],
                            name=op.f('fk_routing_rules_category_id_categories')),
    sa.ForeignKeyConstraint(['commune_code'], ['admin_units.code'],
                            name=op.f('fk_routing_rules_commune_code_admin_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_rules'))
    )
    with op.batch_alter_table('routing_rules', schema=None) as batch_op:
        batch_op.create_index('ix_routing_rules_category_commune', ['category_id', 'commune_code'], unique=True)
    op.create_table('login_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures'))
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index('ix_login_failures_username_at', ['username', 'at'], unique=False)
        batch_op.create_index('ix_login_failures_ip_at', ['ip', 'at'], unique=False)


def downgrade() -> None:
    op.drop_table('login_failures')
    op.drop_table('routing_rules')
    op.drop_table('audit_log')
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.drop_column('role')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_reports_duplicate_of_id_reports'), type_='foreignkey')
        batch_op.drop_column('duplicate_of_id')
        batch_op.drop_column('close_reason')
