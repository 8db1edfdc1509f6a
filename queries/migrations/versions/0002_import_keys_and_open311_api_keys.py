"""import keys and open311 api keys

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 16:36:34.030643
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('key_prefix', sa.String(length=12), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("channel IN ('app', 'portal', 'fanpage', 'hotline')", name=op.f('ck_api_keys_channel')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash')),
    sa.UniqueConstraint('name', name=op.f('uq_api_keys_name'))
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('source_hash', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('intake_token', sa.String(length=40), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_reports_intake_token'), ['intake_token'])



def downgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_reports_intake_token'), type_='unique')
        batch_op.drop_column('intake_token')
        batch_op.drop_column('source_hash')
        batch_op.drop_column('address')

    op.drop_table('api_keys')
