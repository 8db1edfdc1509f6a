"""indexes for the operators' search (phone digits reversed; trigrams of code, title and description) and a
report's duplicates

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 15:00:00

SQLite keeps a full-text table of trigrams (FTS5, `reports_search`, kept by triggers); PostgreSQL a trigram
index (pg_trgm, a trusted extension the database's owner may create) on the same text. Either answers
"contains …" without reading every report.
"""

import re

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

SEARCH_TEXT_PG = "lower(code || ' ' || coalesce(title, '') || ' ' || coalesce(description, ''))"


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_tail', sa.String(length=20), nullable=True))
    # The reports that have a phone: their digits, reversed, in batches.
    reports = sa.table('reports', sa.column('id', sa.Integer), sa.column('reporter_phone', sa.String),
                       sa.column('phone_tail', sa.String))
    last = 0
    while True:
        rows = bind.execute(sa.select(reports.c.id, reports.c.reporter_phone)
                            .where(reports.c.id > last, reports.c.reporter_phone.isnot(None))
                            .order_by(reports.c.id).limit(20_000)).all()
        if not rows:
            break
        bind.execute(sa.update(reports).where(reports.c.id == sa.bindparam('b_id'))
                     .values(phone_tail=sa.bindparam('b_tail')),
                     [{'b_id': row.id, 'b_tail': re.sub(r'\D', '', row.reporter_phone)[::-1][:20] or None}
                      for row in rows])
        last = rows[-1].id
    # The reports marked duplicates of one (its page lists them), without a scan of every report.
    op.create_index('ix_reports_duplicate_of', 'reports', ['duplicate_of_id'], unique=False,
                    sqlite_where=sa.text('duplicate_of_id IS NOT NULL'),
                    postgresql_where=sa.text('duplicate_of_id IS NOT NULL'))
    if bind.dialect.name == 'postgresql':
        op.create_index('ix_reports_phone_tail', 'reports', ['phone_tail'], unique=False,
                        postgresql_ops={'phone_tail': 'text_pattern_ops'})
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.execute(f'CREATE INDEX ix_reports_search_trgm ON reports USING gin (({SEARCH_TEXT_PG}) gin_trgm_ops)')
    else:
        op.create_index('ix_reports_phone_tail', 'reports', ['phone_tail'], unique=False)
        op.execute("CREATE VIRTUAL TABLE reports_search USING fts5(code, title, description, content='reports', "
                   "content_rowid='id', tokenize='trigram')")
        op.execute("INSERT INTO reports_search(reports_search) VALUES ('rebuild')")
        op.execute("""CREATE TRIGGER reports_search_insert AFTER INSERT ON reports BEGIN
            INSERT INTO reports_search(rowid, code, title, description)
            VALUES (new.id, new.code, new.title, new.description); END""")
        op.execute("""CREATE TRIGGER reports_search_delete AFTER DELETE ON reports BEGIN
            INSERT INTO reports_search(reports_search, rowid, code, title, description)
            VALUES ('delete', old.id, old.code, old.title, old.description); END""")
        op.execute("""CREATE TRIGGER reports_search_update AFTER UPDATE OF code, title, description ON reports BEGIN
            INSERT INTO reports_search(reports_search, rowid, code, title, description)
            VALUES ('delete', old.id, old.code, old.title, old.description);
            INSERT INTO reports_search(rowid, code, title, description)
            VALUES (new.id, new.code, new.title, new.description); END""")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute('DROP INDEX IF EXISTS ix_reports_search_trgm')
    else:
        for trigger in ('reports_search_insert', 'reports_search_delete', 'reports_search_update'):
            op.execute(f'DROP TRIGGER IF EXISTS {trigger}')
        op.execute('DROP TABLE IF EXISTS reports_search')
    op.drop_index('ix_reports_phone_tail', table_name='reports')
    op.drop_index('ix_reports_duplicate_of', table_name='reports')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('phone_tail')
