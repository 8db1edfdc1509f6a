"""The KPI registry (queries/metrics.py): one figure, one definition, wherever it shows.

Each figure shown in two places (the overview's cards, the agency page's cards and the province beside them,
the agency trend's month, the scorecard's row, the wall's month, the JSON twins) is computed here for the same
selection on every surface and compared with the others and with pandas over the raw rows: on the seeded
demo (SQLite, PostgreSQL and the analytics copy of each) and on Boston's real 311 export after an import. The
pandas side never goes through the registry. Then a declaration is changed, and every surface must show it.
"""

from __future__ import annotations

import dataclasses
import importlib
import subprocess
import sys
from dataclasses import replace
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import and_

from queries import metrics, overview, rollup, scorecard, wall
from queries.db import Database
from queries.filters import Filter
from queries.migrate import upgrade
from queries.reference import load_reference_data
from tests import independent
from tests.conftest import NOW, ROOT, analytics_copy, database_url_for, read_raw
from tests.test_import_real import BOSTON, require, run_import
from tests.test_workcalendar import UTC_OFFSET

FIGURES = ("received", "resolved", "agency_judged", "agency_on_time", "agency_on_time_rate", "rating_count",
           "satisfaction_mean")


# --- pandas over the raw rows ------------------------------------------------------------------------------

def expected(raw: dict, f: Filter) -> dict:
    df = independent.select_reports(raw, f)
    judged = (df["status"] == "resolved") & df["agency_deadline_at"].notna()
    on_time = judged & (df["resolved_at"] <= df["agency_deadline_at"])
    ratings = df["rating"].dropna()
    return {"received": len(df), "resolved": int((df["status"] == "resolved").sum()),
            "agency_judged": int(judged.sum()), "agency_on_time": int(on_time.sum()),
            "agency_on_time_rate": on_time.sum() / judged.sum() if judged.sum() else np.nan,
            "rating_count": len(ratings), "satisfaction_mean": ratings.mean() if len(ratings) else np.nan}


# --- the surfaces -----------------------------------------------------------------------------------------

def month_of(day: date) -> Filter:
    return Filter(start=day.replace(day=1), end=scorecard.period_containing("month", day).end)


def surfaces(db, day: date, code: str | None, now: datetime) -> dict[str, dict]:
    """The FIGURES of one month (the one holding `day`) for one agency (None: the province), as each surface
    computes them."""
    month = month_of(day)
    mine = month if code is None else replace(month, agencies=(code,))
    out = {}
    head = overview.headline_counts(mine, db, now).iloc[0].rename({"total": "received"})
    out["overview cards"] = head.to_dict()
    compared = scorecard.agency_vs_province(code or "SXD", month, db, now)
    out["agency page cards" if code else "agency page: the province"] = \
        compared["agency"] if code else compared["province"]
    year = Filter(start=date(day.year, 1, 1), end=date(day.year, 12, 31))
    trend = scorecard.monthly_trend(year, code, db).set_index("month")
    point = trend.loc[month.start.isoformat()] if month.start.isoformat() in trend.index else pd.Series(dtype=float)
    out["agency page trend's month"] = point.to_dict()
    if code is not None:
        table, _ = scorecard.scorecard(Filter(), "month", day, db, now)
        out["scorecard row"] = table.set_index("key").loc[code].to_dict()
    return out


def assert_all_equal(found: dict[str, dict], want: dict, where: str) -> None:
    for surface, values in found.items():
        for name in FIGURES:
            if name not in values:
                continue  # a surface that does not show this figure
            got = values[name]
            if isinstance(want[name], float) and np.isnan(want[name]):
                assert got is None or np.isnan(float(got)), (where, surface, name, got)
            else:
                assert float(got) == pytest.approx(float(want[name]), rel=1e-9, abs=1e-12), \
                    (where, surface, name, got, want[name])


def shown_everywhere(found: dict[str, dict]) -> set[str]:
    return {name for name in FIGURES if all(name in values for values in found.values())}


OCTOBER, NOVEMBER = date(2026, 10, 15), date(2026, 11, 20)


@pytest.mark.parametrize("day", [OCTOBER, NOVEMBER], ids=["whole month", "month under way"])
@pytest.mark.parametrize("code", [None, "SXD", "CAT"], ids=["province", "SXD", "CAT"])
def test_one_figure_on_every_surface_of_the_demo(db, raw, day, code):
    found = surfaces(db, day, code, NOW)
    mine = month_of(day) if code is None else replace(month_of(day), agencies=(code,))
    want = expected(raw, mine)
    assert want["agency_judged"] > 0 and want["rating_count"] > 0, "the month must exercise the figures"
    assert_all_equal(found, want, f"{day} {code}")
    assert {"agency_on_time_rate", "satisfaction_mean", "rating_count"} <= shown_everywhere(found)


def test_the_wall_shows_the_overview_s_month(db, raw):
    month = month_of(NOVEMBER)
    numbers = wall.headline(NOW, db)
    head = overview.headline_counts(month, db, NOW).iloc[0]
    want = expected(raw, month)
    for name, shown in (("received", numbers["month_received"]), ("resolved", numbers["month_resolved"]),
                        ("agency_on_time_rate", numbers["month_agency_on_time_rate"]),
                        ("satisfaction_mean", numbers["month_satisfaction_mean"])):
        assert shown == pytest.approx(float(want[name]), rel=1e-9), name
        assert float(head[name if name != "received" else "total"]) == pytest.approx(shown, rel=1e-9), name


def test_every_trend_month_is_that_month_s_card(sqlite_db, raw_by_dialect):
    """Month by month for a year: the trend's point equals the figure of a filter on that month alone."""
    raw = raw_by_dialect["sqlite"]
    trend = scorecard.monthly_trend(Filter(start=date(2026, 1, 1), end=date(2026, 11, 30)), "SXD", sqlite_db)
    assert len(trend) == 11
    for point in trend.itertuples():
        day = date.fromisoformat(point.month)
        want = expected(raw, replace(month_of(day), agencies=("SXD",)))
        assert point.agency_judged == want["agency_judged"] and point.rating_count == want["rating_count"]
        assert point.agency_on_time_rate == pytest.approx(want["agency_on_time_rate"], nan_ok=True)


# --- an imported real dataset -------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def boston(request, tmp_path_factory, pg_server_url):
    """Boston's 2015 export imported (resolved reports with no agency among them), and its analytics copy."""
    require(BOSTON)
    folder = tmp_path_factory.mktemp(f"boston-{request.param}")
    with database_url_for(request.param, pg_server_url, f"sqlite:///{folder / 'boston.sqlite3'}") as url:
        db = Database(url)
        upgrade(db)
        load_reference_data(db)
        run_import(db, [BOSTON], "boston", folder / "out")
        yield db, analytics_copy(db, folder / "copy"), read_raw(db)
        db.dispose()


BOSTON_NOW = datetime(2016, 1, 15, 3, 0)


@pytest.mark.parametrize("source", ["record", "copy"])
def test_one_figure_on_every_surface_of_an_import(boston, source):
    db, copy, raw = boston
    reader = db if source == "record" else copy
    found = surfaces(reader, date(2015, 6, 10), None, BOSTON_NOW)
    want = expected(raw, month_of(date(2015, 6, 10)))
    assert want["resolved"] > 1000 and want["agency_judged"] > 0
    assert_all_equal(found, want, f"boston {source}")
    # Resolved reports with no agency deadline count as resolved but are not judged on time, on every surface.
    assert want["agency_judged"] < want["resolved"]
    agencies = raw["reports"]["agency_id"].dropna().map(
        raw["agencies"].set_index("id")["code"]).value_counts()
    busiest = agencies.index[0]
    found = surfaces(reader, date(2015, 6, 10), busiest, BOSTON_NOW)
    assert_all_equal(found, expected(raw, replace(month_of(date(2015, 6, 10)), agencies=(busiest,))),
                     f"boston {source} {busiest}")


# --- a declaration changed is a figure changed everywhere -----------------------------------------------------

def changed_declaration(monkeypatch, name: str, **changes) -> None:
    monkeypatch.setitem(metrics.REGISTRY, name, dataclasses.replace(metrics.REGISTRY[name], **changes))


def test_a_changed_rule_shows_on_every_surface(sqlite_db, raw_by_dialect, monkeypatch):
    """The agency stage's on-time rule swapped for the IOC stage's: every surface of the record moves with it
    and away from pandas' figure. (The copy holds counts built with the declarations when it was made.)"""
    raw = raw_by_dialect["sqlite"]
    want = expected(raw, month_of(OCTOBER))
    before = surfaces(sqlite_db, OCTOBER, None, NOW)
    assert_all_equal(before, want, "as declared")
    changed_declaration(monkeypatch, "agency_on_time",
                        rule=lambda c, clock: and_(c.status == "resolved", c.first_forwarded_at <= c.ioc_deadline_at))
    after = surfaces(sqlite_db, OCTOBER, None, NOW)
    for surface, values in after.items():
        if "agency_on_time" in values:
            assert values["agency_on_time"] != want["agency_on_time"], surface
        assert values["agency_on_time_rate"] != pytest.approx(want["agency_on_time_rate"]), surface
    numbers = wall.headline(NOW, sqlite_db)
    assert numbers["month_agency_on_time_rate"] != pytest.approx(expected(raw, month_of(NOVEMBER))[
        "agency_on_time_rate"])


def test_a_metric_counted_by_another_day_is_refused_on_every_surface(sqlite_db, monkeypatch):
    """Every period on screen selects reports by the day they were received; a metric declared by the day of
    resolution cannot be compiled into them, so the declaration can never silently disagree with the SQL."""
    changed_declaration(monkeypatch, "agency_on_time", counts_by="resolved")
    for surface in (lambda: overview.headline_counts(month_of(OCTOBER), sqlite_db, NOW),
                    lambda: scorecard.agency_vs_province("SXD", month_of(OCTOBER), sqlite_db, NOW),
                    lambda: scorecard.monthly_trends(Filter(), sqlite_db),
                    lambda: scorecard.scorecard(Filter(), "month", OCTOBER, sqlite_db, NOW),
                    lambda: wall.headline(NOW, sqlite_db)):
        with pytest.raises(ValueError, match="agency_on_time"):
            surface()


# --- names, labels, docs ---------------------------------------------------------------------------------

def test_an_unknown_metric_stops_the_start_with_its_name():
    with pytest.raises(metrics.UnknownMetric) as err:
        metrics.require("received", "ty_le_dung_han")
    assert "ty_le_dung_han" in str(err.value) and "agency_on_time_rate" in str(err.value)
    # A module that shows a metric the registry lost does not load: the app does not start.
    run = subprocess.run([sys.executable, "-c", "from queries import metrics; "
                          "metrics.REGISTRY.pop('agency_on_time_rate'); import app"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "agency_on_time_rate" in run.stderr


def test_two_metrics_never_share_a_label():
    twin = dataclasses.replace(metrics.REGISTRY["agency_on_time_rate"], name="on_time_overall")
    with pytest.raises(ValueError, match="nhãn"):
        metrics._check([*metrics.DECLARATIONS, twin])
    assert len({metrics.label(m.name) for m in metrics.DECLARATIONS}) == len(metrics.DECLARATIONS)


def test_the_docs_are_written_from_the_registry():
    current = metrics.DOC.read_text(encoding="utf-8")
    assert metrics.document(current) == current, "run: python -m queries.metrics"
    for m in metrics.DECLARATIONS:
        assert f"| `{m.name}` | {metrics.label(m.name)} | {metrics.explanation(m.name)} |" in current


@pytest.mark.parametrize("name", ["overview", "agency", "scorecard"])
def test_each_info_panel_explains_the_page_s_metrics_from_the_registry(server, name):
    page = importlib.import_module(f"dashboard.pages.{name}")  # pages register once the app exists
    with server.test_request_context("/"):
        shown = str(page.layout(code="SXD") if name == "agency" else page.layout())
    assert page.SHOWN
    for metric_name in page.SHOWN:
        assert metrics.explanation(metric_name) in shown, (name, metric_name)


def test_the_copy_counts_what_the_registry_declares():
    assert set(rollup.SUMS) == {m.copy_column for m in metrics.DECLARATIONS
                                if m.copy_column is not None and m.source == "reports"}


def test_local_days_follow_the_one_time_zone():
    from queries import localtime
    assert localtime.LOCAL_OFFSET == UTC_OFFSET
    assert localtime.local_today(datetime(2026, 10, 31, 17, 0)) == date(2026, 11, 1)
    assert localtime.local_to_utc(date(2026, 11, 1)) == datetime(2026, 10, 31, 17, 0)
