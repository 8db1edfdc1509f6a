"""queries/sql.py bucketed_percentiles: exact medians and p90s in bounded memory, against pandas' quantile
(linear interpolation, as percentile_cont) on DuckDB and on the real PostgreSQL server.

The values are shaped like the durations in working days: skewed, many ties (a whole working day), a NULL group
(the IOC queue has no agency), groups of one and two values, NULL values, values straddling bucket edges and
values far apart (buckets with nothing between them), and a median that falls between two runs of ties
in one bucket."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Column, Double, Integer, MetaData, String, Table, create_engine, select

from queries.sql import bucketed_percentiles
from tests.conftest import database_url_for

metadata = MetaData()
values = Table("durations", metadata, Column("key", String), Column("part", Integer), Column("days", Double))


def sample() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 12_000
    frame = pd.DataFrame({"key": rng.choice(["SXD", "CAT", None, "GTVT"], n, p=[.5, .3, .19, .01]),
                          "part": rng.integers(0, 2, n), "days": np.round(rng.lognormal(1, 1, n), 6)})
    frame.loc[rng.choice(n, 2_000, replace=False), "days"] = 3.0
    frame.loc[rng.choice(n, 300, replace=False), "days"] = np.nan
    edges = pd.DataFrame({"key": ["one"] + ["two"] * 2 + ["edges"] * 4 + ["far"] * 3, "part": 0,
                          "days": [1.5, 2.0, 7.25, 0.999999, 1.0, 1.000001, 1.01, 0.0, 250.0, 0.5]})
    # Two runs of ties in one bucket, the median between them: 1.002, read from two distinct values.
    ties = pd.DataFrame({"key": "ties", "part": 0, "days": [1.0] * 5 + [1.004] * 5})
    return pd.concat([frame, edges, ties], ignore_index=True)


def expected(frame: pd.DataFrame) -> pd.DataFrame:
    known = frame.dropna(subset=["days"])
    return (known.groupby(["key", "part"], dropna=False)["days"]
            .agg(n="count", p50=lambda s: s.quantile(0.5), p90=lambda s: s.quantile(0.9)).reset_index())


@pytest.fixture(params=["duckdb", "postgresql"])
def engine(request, pg_server_url):
    with database_url_for(request.param, pg_server_url, "duckdb:///:memory:") as url:
        engine = create_engine(url)
        yield engine
        engine.dispose()


def stored(engine, frame: pd.DataFrame):
    """The frame written to the durations table; the subquery the percentiles read."""
    metadata.create_all(engine)
    rows = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
            for row in frame.to_dict("records")]
    with engine.begin() as conn:
        conn.execute(values.insert(), rows)
    return select(values.c.key, values.c.part, values.c.days).subquery()


def assert_equal_pandas(got: pd.DataFrame, want: pd.DataFrame, on: list[str], least: int) -> pd.DataFrame:
    both = want.merge(got, on=on, how="outer", suffixes=("", "_got"), indicator=True)
    assert (both["_merge"] == "both").all(), both[both["_merge"] != "both"]
    assert len(both) == len(want) >= least
    assert (both["n"] == both["n_got"].astype(int)).all()
    for p in ("p50", "p90"):
        np.testing.assert_allclose(both[p + "_got"].astype(float), both[p], rtol=1e-12, atol=0, err_msg=p)
    return both


def test_bucketed_percentiles_equal_pandas(engine):
    frame = sample()
    inner = stored(engine, frame)
    with engine.connect() as conn:
        got = pd.DataFrame(conn.execute(bucketed_percentiles(inner, "days", ["key", "part"])).mappings().all())
    both = assert_equal_pandas(got, expected(frame), ["key", "part"], least=12)
    ties = both[both["key"] == "ties"].iloc[0]
    assert float(ties["p50_got"]) == pytest.approx(1.002, abs=1e-12) and float(ties["p90_got"]) == 1.004


def test_bucketed_percentiles_with_totals_equal_pandas(engine):
    """total_of="key": every key's rows as before, plus per part the total over every key (the NULL key
    included), from the same statement."""
    frame = sample()
    inner = stored(engine, frame)
    with engine.connect() as conn:
        got = pd.DataFrame(conn.execute(bucketed_percentiles(inner, "days", ["key", "part"], total_of="key"))
                           .mappings().all())
    assert set(got["total"]) == {0, 1}
    own, totals = got[got["total"] == 0], got[got["total"] == 1]
    assert_equal_pandas(own.drop(columns="total"), expected(frame), ["key", "part"], least=12)
    assert totals["key"].isna().all()
    want_totals = expected(frame.assign(key="every key"))
    both = assert_equal_pandas(totals.drop(columns="total").assign(key="every key"), want_totals, ["key", "part"],
                               least=2)
    assert both["n"].sum() == frame["days"].notna().sum()
