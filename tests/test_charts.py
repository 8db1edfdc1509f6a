"""The figure builders return plain dicts (cheaper than go.Figure); plotly must still accept every one of
them as valid, and the numbers in them must be the frame's."""

import math

import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard.components import charts

BACKLOG = pd.DataFrame({"agency_code": ["A", "B"], "agency_name": ["Sở A", "Sở B"], "resolved": [50, 7],
                        "pending": [9, 4], "overdue": [3, 0]})
SATISFACTION = pd.DataFrame({"agency_name": ["Sở A", "Sở B"], "satisfaction_mean": [4.2, 2.5],
                             "rating_count": [40, 6], "share_low": [0.05, 0.5]})
TREND = pd.DataFrame({"period": ["2026-10-01", "2026-11-01", "2026-10-01"], "key": ["MT", "MT", "GT"],
                      "name": ["Môi trường", "Môi trường", "Giao thông"], "n": [5, 8, 2]})
CHANNELS = pd.DataFrame({"key": ["app", "web"], "n": [30, 12]})
MONTHLY = pd.DataFrame({"month": ["2026-10-01", "2026-11-01"], "agency_on_time_rate": [0.9, float("nan")]})
WORST = pd.DataFrame({"category_name": ["Môi trường"], "satisfaction_mean": [2.1], "rating_count": [9],
                      "share_low": [0.6]})
TABLE = pd.DataFrame({"name": ["Sở A", "Sở B", "Sở C"], "ranked": [True, True, False],
                      "agency_on_time_rate": [0.95, 0.7, 1.0], "satisfaction_mean": [4.5, 3.2, 5.0]})


def all_figures():
    return {
        "backlog": charts.backlog_figure(BACKLOG),
        "satisfaction": charts.satisfaction_figure(SATISFACTION),
        "trend": charts.trend_figure(TREND, {"MT": "#00aa00"}),
        "channels": charts.channel_figure(CHANNELS),
        "agency_vs_province": charts.agency_vs_province_figure(MONTHLY, MONTHLY, "agency_on_time_rate", True, [0, 100]),
        "worst": charts.worst_categories_figure(WORST),
        "wall_trend": charts.wall_style(charts.trend_figure(TREND, {}, tickformat="%d/%m")),
        "wall_rank": charts.wall_ranking_figure(TABLE, "agency_on_time_rate", percent=True),
        "empty": charts.empty_figure(),
        "wall_empty": charts.wall_ranking_figure(TABLE.assign(ranked=False), "satisfaction_mean", percent=False),
    }


@pytest.mark.parametrize("name", list(all_figures()))
def test_plotly_accepts_the_figure(name):
    go.Figure(all_figures()[name])  # raises on any invalid property or value


def test_figures_carry_the_frames_numbers():
    figs = all_figures()
    overdue, in_time, resolved = figs["backlog"]["data"]
    assert overdue["y"] == ["Sở B", "Sở A"] and overdue["x"] == [0, 3]
    assert in_time["x"] == [4, 6] and resolved["x"] == [7, 50] and resolved["visible"] == "legendonly"
    trend = {t["name"]: t for t in figs["trend"]["data"]}
    assert trend["Môi trường"]["x"] == ["2026-10-01", "2026-11-01"] and trend["Môi trường"]["y"] == [5, 8]
    assert trend["Môi trường"]["line"]["color"] == "#00aa00"
    lines = figs["agency_vs_province"]["data"]
    assert lines[1]["y"][0] == pytest.approx(90.0) and lines[1]["y"][1] is None  # NaN must not reach JSON
    ranked = figs["wall_rank"]["data"][0]
    assert ranked["y"] == ["Sở B", "Sở A"] and ranked["x"] == pytest.approx([70.0, 95.0])
    assert figs["wall_rank"]["layout"]["showlegend"] is False
    assert figs["wall_trend"]["layout"]["font"]["size"] == 20
    assert figs["wall_trend"]["layout"]["xaxis"]["tickformat"] == "%d/%m"  # kept under the wall's style
    assert figs["satisfaction"]["data"][0]["customdata"][0] == [6, 0.5]
    assert not any(isinstance(v, float) and math.isnan(v) for v in figs["satisfaction"]["data"][0]["x"])


def test_dates_read_text_periods_and_timestamps_alike():
    _dates = charts._dates
    text = ["2026-11-01", "2026-12-01"]
    assert _dates(pd.Series(text)) == text
    assert _dates(pd.to_datetime(pd.Series(text))) == text
    assert _dates([pd.Timestamp("2026-02-28 23:00")]) == ["2026-02-28"]
    assert _dates(["2026-03-01T00:00:00"]) == ["2026-03-01"]
