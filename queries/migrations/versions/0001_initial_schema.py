"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 16:11:42.599609
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('admin_units',
    sa.Column('code', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('unit_type', sa.String(length=20), nullable=False),
    sa.Column('parent_code', sa.String(length=10), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('area_km2', sa.Float(), nullable=True),
    sa.Column('old_district', sa.String(length=120), nullable=True),
    sa.CheckConstraint("level IN ('province', 'commune')", name=op.f('ck_admin_units_level')),
    sa.ForeignKeyConstraint(['parent_code'], ['admin_units.code'], name=op.f('fk_admin_units_parent_code_admin_units')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_admin_units'))
    )
    op.create_table('categories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('short_name', sa.String(length=60), nullable=False),
    sa.Column('default_handling_days', sa.Integer(), nullable=False),
    sa.Column('color', sa.String(length=9), nullable=False),
    sa.Column('sort_order', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_categories')),
    sa.UniqueConstraint('code', name=op.f('uq_categories_code'))
    )
    op.create_table('agencies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=30), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('short_name', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('commune_code', sa.String(length=10), nullable=True),
    sa.Column('active', sa.SmallInteger(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['commune_code'], ['admin_units.code'], name=op.f('fk_agencies_commune_code_admin_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agencies')),
    sa.UniqueConstraint('code', name=op.f('uq_agencies_code'))
    )
    op.create_table('reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=30), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('commune_code', sa.String(length=10), nullable=True),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('reporter_phone', sa.String(length=20), nullable=True),
    sa.Column('status', sa.String(length=15), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('classified_at', sa.DateTime(), nullable=True),
    sa.Column('forwarded_at', sa.DateTime(), nullable=True),
    sa.Column('first_response_at', sa.DateTime(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('rejected_at', sa.DateTime(), nullable=True),
    sa.Column('deadline_at', sa.DateTime(), nullable=True),
    sa.Column('rating', sa.SmallInteger(), nullable=True),
    sa.Column('rating_comment', sa.Text(), nullable=True),
    sa.Column('reply', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=30), server_default='paht', nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.CheckConstraint("channel IN ('app', 'portal', 'fanpage', 'hotline')", name=op.f('ck_reports_channel')),
    sa.CheckConstraint("status IN ('received', 'classified', 'forwarded', 'in_progress', 'resolved', 'rejected')", name=op.f('ck_reports_status')),
    sa.CheckConstraint('rating IS NULL OR (rating BETWEEN 1 AND 5)', name=op.f('ck_reports_rating')),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_reports_agency_id_agencies')),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_reports_category_id_categories')),
    sa.ForeignKeyConstraint(['commune_code'], ['admin_units.code'], name=op.f('fk_reports_commune_code_admin_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports')),
    sa.UniqueConstraint('code', name=op.f('uq_reports_code'))
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index('ix_reports_agency_created', ['agency_id', 'created_at'], unique=False)
        batch_op.create_index('ix_reports_category_created', ['category_id', 'created_at'], unique=False)
        batch_op.create_index('ix_reports_commune_created', ['commune_code', 'created_at'], unique=False)
        batch_op.create_index('ix_reports_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_reports_open_deadline', ['deadline_at'], unique=False, sqlite_where=sa.text("status IN ('received', 'classified', 'forwarded', 'in_progress')"), postgresql_where=sa.text("status IN ('received', 'classified', 'forwarded', 'in_progress')"))
        batch_op.create_index('ix_reports_source_external', ['source', 'external_id'], unique=True)
        batch_op.create_index('ix_reports_updated_at', ['updated_at'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('full_name', sa.String(length=200), server_default='', nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.SmallInteger(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("(role = 'agency') = (agency_id IS NOT NULL)", name=op.f('ck_users_agency_role')),
    sa.CheckConstraint("role IN ('admin', 'leader', 'operator', 'agency')", name=op.f('ck_users_role')),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_users_agency_id_agencies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('media',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('caption', sa.String(length=300), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('photo', 'video')", name=op.f('ck_media_kind')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_media_report_id_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_media'))
    )
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.create_index('ix_media_report', ['report_id'], unique=False)

    op.create_table('report_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('from_status', sa.String(length=15), nullable=True),
    sa.Column('to_status', sa.String(length=15), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_report_events_actor_user_id_users')),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_report_events_agency_id_agencies')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_events_report_id_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_events'))
    )
    with op.batch_alter_table('report_events', schema=None) as batch_op:
        batch_op.create_index('ix_report_events_report_at', ['report_id', 'at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('report_events', schema=None) as batch_op:
        batch_op.drop_index('ix_report_events_report_at')

    op.drop_table('report_events')
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.drop_index('ix_media_report')

    op.drop_table('media')
    op.drop_table('users')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_updated_at')
        batch_op.drop_index('ix_reports_source_external')
        batch_op.drop_index('ix_reports_open_deadline', sqlite_where=sa.text("status IN ('received', 'classified', 'forwarded', 'in_progress')"), postgresql_where=sa.text("status IN ('received', 'classified', 'forwarded', 'in_progress')"))
        batch_op.drop_index('ix_reports_created_at')
        batch_op.drop_index('ix_reports_commune_created')
        batch_op.drop_index('ix_reports_category_created')
        batch_op.drop_index('ix_reports_agency_created')

    op.drop_table('reports')
    op.drop_table('agencies')
    op.drop_table('categories')
    op.drop_table('admin_units')
