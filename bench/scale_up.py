"""Build a large benchmark database: seed a base of demo reports, then multiply it inside the database.

    python bench/scale_up.py [--url DATABASE_URL] [--reports 10000000] [--base 1000000] [--seed 2026] [--replace]

The default URL is postgresql+psycopg://postgres@127.0.0.1:5432/bench10m; the result is what
`bench/callbacks.py --reports 10000000 --url …` expects, so that script does not re-seed.

Why not `seed_demo(n=10_000_000)`: it builds every row as a Python dict before inserting (tens of GB at
10M) and inserts 10M reports and ~35M events through executemany, which takes hours. Here:

1. the database is created when missing (PostgreSQL; --replace drops it first), migrated, and given its
   reference data;
2. `seed_demo` seeds --base reports with their status history and photos (about 3.5 events a report);
3. the secondary indexes of reports, report_events and media are dropped, and on PostgreSQL also their
   unique and foreign-key constraints, with their definitions read from the catalog first (pg_indexes,
   pg_get_constraintdef; sqlite_master on SQLite);
4. copies k = 1 … reports/base - 1 are made with INSERT … SELECT, one transaction per copy: every id is
   shifted by k * base (events and media by k * their own highest id), the report ids they point at by
   k * base, and every timestamp is moved k minutes earlier (never into the future, every interval kept);
   latitude and longitude move by a deterministic ± 0.0005° (about 50 m) so the map's points do not stack;
   `code` PA-YYYY-NNNNNN becomes PA-YYYY-<NNNNNN + k * base>, seven digits at the default base, which the
   app's own numbering (queries/open311.py) reaches only past 999,999 a year, and then skips; external_id
   and intake_token, empty in the demo, get a "-k" suffix to stay unique;
5. the indexes and constraints are recreated exactly as they were (re-adding a foreign key checks every
   row), the id sequences are moved past the highest ids, and the tables are vacuumed and analysed.

What the copy is, and is not: the same 24 months hold ten times as many reports at the defaults (ten a
minute instead of one), with the same shares of fields, communes, channels, statuses, handling times
and ratings, so percentiles and rates equal the base's. Ids follow time within each copy only: the table
is --reports/--base runs, each in arrival order. The migrations' deletion-log trigger (0006) fires on
DELETE only, so the bulk inserts do not touch report_deletions. Photos are copied too (rows only: they
point at the same few demo pictures).

SQLite (`--url sqlite:///path`) works with the same SQL; there only the secondary indexes are dropped
(foreign keys stay on and are checked as rows go in) and there is no VACUUM, only ANALYZE.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("INSTANCE_DIR", str(ROOT / "bench" / "results" / "instance"))  # where demo photos go

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench10m"
TABLES = ("reports", "report_events", "media")
# Per dialect: a timestamp moved k minutes earlier (SQLite keeps SQLAlchemy's ".ffffff" text form), and
# a value rounded to six decimals.
EARLIER = {"postgresql": "{c} - interval '{k} minutes'",
           "sqlite": "strftime('%Y-%m-%d %H:%M:%S', {c}, '-{k} minutes') || substr({c}, 20)"}
ROUND6 = {"postgresql": "round(({e})::numeric, 6)::float8", "sqlite": "round({e}, 6)"}
MOD = {"postgresql": "mod({a}, {b})", "sqlite": "({a}) % {b}"}  # psycopg reads a bare % as a placeholder


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default=DEFAULT_URL)
    p.add_argument("--reports", type=int, default=10_000_000, help="total, a multiple of --base")
    p.add_argument("--base", type=int, default=1_000_000, help="reports seeded by seed_demo, then copied")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--replace", action="store_true", help="start from an empty database (drops it on PostgreSQL)")
    args = p.parse_args()
    if args.reports % args.base:
        p.error("--reports must be a multiple of --base")
    return args


@contextmanager
def phase(name: str):
    print(f"{name} …", flush=True)
    t0 = time.perf_counter()
    yield
    print(f"  {name}: {time.perf_counter() - t0:,.1f} s", flush=True)


def create_database(url: str, replace: bool) -> None:
    """PostgreSQL: create the database when missing, after dropping it with --replace."""
    from sqlalchemy import create_engine, make_url

    target = make_url(url)
    engine = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if replace:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{target.database}"')
        if not conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)).scalar():
            conn.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
    engine.dispose()


def secondary_objects(conn, dialect: str) -> tuple[list[str], list[str]]:
    """(statements that drop, statements that recreate) the secondary indexes and constraints of TABLES.
    PostgreSQL's partial indexes stay: they are small, and re-running their indexdef would store the
    predicate in another (equivalent) form than the migrations'."""
    if dialect == "sqlite":
        rows = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN {TABLES}").all()
        return [f'DROP INDEX "{name}"' for name, _ in rows], [sql for _, sql in rows]
    constraints = conn.exec_driver_sql(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
        f"WHERE conrelid::regclass::text IN {TABLES} AND contype IN ('u', 'f') ORDER BY contype").all()
    indexes = conn.exec_driver_sql(
        f"SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN {TABLES} AND indexdef NOT LIKE '%% WHERE %%' "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))").all()
    # Foreign keys are dropped first; unique constraints and plain indexes come back before them.
    drop = ([f'ALTER TABLE {t} DROP CONSTRAINT "{name}"' for t, name, _, _ in constraints]
            + [f'DROP INDEX "{name}"' for name, _ in indexes])
    create = [sql for _, sql in indexes] + [f'ALTER TABLE {t} ADD CONSTRAINT "{name}" {definition}'
                                            for t, name, definition, _ in reversed(constraints)]
    return drop, create


def copy_statements(columns: dict[str, list], dialect: str, k: int, base: int, top: dict[str, int]) -> list[str]:
    """INSERT … SELECT for copy k of every table: ids shifted, timestamps k minutes earlier."""
    from sqlalchemy import DateTime

    mod = MOD[dialect].format
    jitter = {"lat": f"lat + ({mod(a=f'id * 31 + {k * 17}', b=101)} - 50) * 0.00001",
              "lon": f"lon + ({mod(a=f'id * 37 + {k * 53}', b=103)} - 51) * 0.00001"}
    special = {
        "reports": {
            "id": f"id + {k * base}",
            "code": f"substr(code, 1, 8) || CAST(CAST(substr(code, 9) AS INTEGER) + {k * base} AS TEXT)",
            "duplicate_of_id": f"duplicate_of_id + {k * base}",
            "external_id": f"external_id || '-{k}'",
            "intake_token": f"intake_token || '-{k}'",
            **{c: ROUND6[dialect].format(e=e) for c, e in jitter.items()},
        },
        "report_events": {"id": f"id + {k * top['report_events']}", "report_id": f"report_id + {k * base}"},
        "media": {"id": f"id + {k * top['media']}", "report_id": f"report_id + {k * base}"},
    }
    statements = []
    for table in TABLES:
        names, exprs = [], []
        for col in columns[table]:
            name = col["name"]
            expr = special[table].get(name)
            if expr is None and isinstance(col["type"], DateTime):
                expr = EARLIER[dialect].format(c=name, k=k)
            names.append(name)
            exprs.append(expr or name)
        statements.append(f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(exprs)} "
                          f"FROM {table} WHERE id <= {top[table]} ORDER BY id")
    return statements


def main() -> None:
    args = parse_args()
    copies = args.reports // args.base
    from sqlalchemy import inspect

    from queries.db import Database
    from queries.demo import seed_demo
    from queries.migrate import upgrade
    from queries.reference import load_reference_data

    started = time.perf_counter()
    postgres = args.url.startswith("postgres")
    if postgres:
        with phase("create database"):
            create_database(args.url, args.replace)
    elif args.replace:
        Path(args.url.split("///", 1)[1]).unlink(missing_ok=True)
    db = Database(args.url)
    dialect = db.dialect
    with phase("migrations and reference data"):
        upgrade(db)
        load_reference_data(db)
    with db.begin() as conn:
        have = conn.exec_driver_sql("SELECT count(*) FROM reports").scalar()
    if have:
        sys.exit(f"{args.url} already holds {have:,} reports; use --replace to start over")
    with phase(f"seed_demo: {args.base:,} reports with status history"):
        seed_demo(db, n=args.base, seed=args.seed, with_events=True, replace=True)

    # Every statement commits on its own; on PostgreSQL without the app's 30 s statement timeout.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        run = conn.exec_driver_sql
        if postgres:
            run("SET statement_timeout = 0")
            run("SET maintenance_work_mem = '1GB'")
            run("SET synchronous_commit = off")
            triggers = run("SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal "
                           f"AND tgrelid::regclass::text IN {TABLES}").all()
            print("triggers:", *(f"\n  {name}: {definition}" for name, definition in triggers), flush=True)
        top = {t: run(f"SELECT COALESCE(max(id), 0) FROM {t}").scalar() for t in TABLES}
        columns = {t: inspect(conn).get_columns(t) for t in TABLES}
        drop, create = secondary_objects(conn, dialect)
        with phase(f"drop {len(drop)} secondary indexes and constraints"):
            for sql in drop:
                print("  " + sql, flush=True)
                run(sql)
            if postgres:
                for table in TABLES:
                    run(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        for k in range(1, copies):
            with phase(f"copy {k} of {copies - 1}"):
                if not postgres:
                    run("BEGIN")
                for sql in copy_statements(columns, dialect, k, args.base, top):
                    t0 = time.perf_counter()
                    count = run(sql).rowcount
                    print(f"    {sql.split()[2]}: {count:,} rows, {time.perf_counter() - t0:,.1f} s", flush=True)
                if not postgres:
                    run("COMMIT")
        with phase(f"recreate {len(create)} indexes and constraints"):
            for sql in create:
                t0 = time.perf_counter()
                run(sql)
                print(f"    {time.perf_counter() - t0:7.1f} s  {sql}", flush=True)
        if postgres:
            with phase("sequences, VACUUM ANALYZE"):
                for table in TABLES:
                    run(f"ALTER TABLE {table} RESET (autovacuum_enabled)")
                    run(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT COALESCE(max(id), 1) FROM {table}))")
                run("VACUUM ANALYZE")
            size = run("SELECT pg_database_size(current_database())").scalar()
        else:
            with phase("ANALYZE"):
                run("ANALYZE")
            size = run("PRAGMA page_count").scalar() * run("PRAGMA page_size").scalar()
        counts = {t: run(f"SELECT count(*) FROM {t}").scalar() for t in (*TABLES, "report_deletions")}
    print(f"\ndone in {(time.perf_counter() - started) / 60:,.1f} min")
    for table, count in counts.items():
        print(f"  {table:<17} {count:>12,} rows")
    print(f"  database size     {size / 2**30:>12,.2f} GiB")


if __name__ == "__main__":
    main()
