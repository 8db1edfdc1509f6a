"""report deletions log, kept by a trigger, for the analytics copy

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 20:05:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('report_deletions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_deletions'))
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION log_report_deletion() RETURNS trigger AS $$
            BEGIN
                INSERT INTO report_deletions (report_id, created_at, deleted_at)
                VALUES (OLD.id, OLD.created_at, now() AT TIME ZONE 'UTC');
                RETURN OLD;
            END $$ LANGUAGE plpgsql""")
        op.execute("CREATE TRIGGER reports_deleted AFTER DELETE ON reports "
                   "FOR EACH ROW EXECUTE FUNCTION log_report_deletion()")
    else:
        op.execute("""
            CREATE TRIGGER reports_deleted AFTER DELETE ON reports BEGIN
                INSERT INTO report_deletions (report_id, created_at, deleted_at)
                VALUES (OLD.id, OLD.created_at, strftime('%Y-%m-%d %H:%M:%f', 'now'));
            END""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS reports_deleted" + (" ON reports" if op.get_bind().dialect.name ==
                                                          "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS log_report_deletion()")
    op.drop_table('report_deletions')
