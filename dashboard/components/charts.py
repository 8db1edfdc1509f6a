"""Figure builders: tidy frames in, plotly figures out. No queries here.

Figures are plain dicts in plotly's JSON shape, not `go.Figure` objects: Dash sends the same JSON either
way, and building a `go.Figure` (property validation, path parsing) costs more than the queries behind it."""

from __future__ import annotations

import pandas as pd

from dashboard import text
from dashboard.formatting import fmt_decimal

FONT = "Segoe UI, Roboto, Noto Sans, DejaVu Sans, Arial, sans-serif"
MAX_AGENCY_BARS = 15
# An agency with a handful of ratings would top the chart by chance; show it only from this many.
MIN_RATINGS_SHOWN = 5


def _values(series) -> list:
    """JSON-ready values of a column: NaN becomes null, numpy numbers Python ones."""
    return [None if pd.isna(v) else v for v in pd.Series(series).tolist()]


def _rows(frame: pd.DataFrame) -> list[list]:
    """JSON-ready rows of a frame, a column at a time (a Series per row is slow)."""
    return [list(row) for row in zip(*(_values(frame[col]) for col in frame.columns), strict=True)]


def _dates(series) -> list[str]:
    """'YYYY-MM-DD' of each value. The queries' periods come as that text already, and parsing them again
    with pandas costs more than a few dozen points are worth."""
    values = list(series)
    if all(isinstance(v, str) and len(v) >= 10 and v[4] == v[7] == "-" for v in values):
        return [v[:10] for v in values]
    return [ts.strftime("%Y-%m-%d") for ts in pd.to_datetime(pd.Series(values))]


def _merge(base: dict, extra: dict) -> dict:
    """`base` updated by `extra`, nested dicts merged (as plotly's update_layout does)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def figure(data: list[dict], height: int = 360, xaxis: dict | None = None, yaxis: dict | None = None,
           **layout) -> dict:
    """A figure in the dashboard's light style."""
    # automargin: room for tick labels and axis titles, which the 8 px margins alone cut off.
    grid = {"gridcolor": "#e3e8ee", "zerolinecolor": "#cfd7df", "automargin": True}
    return {"data": data, "layout": _merge({
        "height": height,
        "margin": {"l": 8, "r": 12, "t": 8, "b": 8},
        "font": {"family": FONT, "size": 13, "color": "#1b2733"},
        "separators": ",.",  # Vietnamese: decimal comma, thousands dot
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0},
        "hoverlabel": {"font": {"family": FONT}},
        "xaxis": {**grid, **(xaxis or {})},
        "yaxis": {**grid, **(yaxis or {})},
    }, layout)}


def empty_figure(message: str = text.EMPTY, height: int = 360) -> dict:
    return figure([], height, xaxis={"visible": False}, yaxis={"visible": False}, annotations=[{
        "text": message, "showarrow": False, "font": {"size": 15, "color": "#5b6b7b"},
        "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}])


def _bar_height(rows: int) -> int:
    return max(220, 26 * rows + 70)


def _rating_colors(means) -> list[str]:
    return ["#198754" if m >= 4 else "#ffc107" if m >= 3 else text.OVERDUE_COLOR for m in means]


def _rating_labels(means, counts) -> list[str]:
    return [f"{fmt_decimal(m, 2)} ({text.RATINGS_N.format(n=n)})" for m, n in zip(means, counts, strict=True)]


def backlog_figure(backlog: pd.DataFrame) -> dict:
    """Stacked horizontal bars per agency, busiest backlog on top: overdue, pending in time, resolved.
    Resolved starts hidden (one click on its legend shows it): it dwarfs the backlog leaders look for."""
    if backlog.empty:
        return empty_figure()
    df = backlog.head(MAX_AGENCY_BARS).iloc[::-1]
    names = _values(df["agency_name"])
    bars = [
        {"type": "bar", "orientation": "h", "y": names, "x": _values(values), "name": name, "marker": {"color": color},
         "visible": visible, "hovertemplate": "%{y}<br>" + name + ": %{x:,d}<extra></extra>"}
        for values, name, color, visible in (
            (df["overdue"], text.SERIES_OVERDUE, text.OVERDUE_COLOR, True),
            (df["pending"] - df["overdue"], text.SERIES_PENDING, text.STATUS_COLORS["in_progress"], True),
            (df["resolved"], text.SERIES_RESOLVED, "#8cc7a3", "legendonly"),
        )
    ]
    return figure(bars, _bar_height(len(df)), xaxis={"title": {"text": text.AXIS_REPORTS}},
                  yaxis={"automargin": True}, barmode="stack")


def satisfaction_figure(satisfaction: pd.DataFrame) -> dict:
    """Mean rating per agency with its number of ratings, for agencies with enough ratings."""
    df = satisfaction[satisfaction["rating_count"] >= MIN_RATINGS_SHOWN]
    if df.empty:
        return empty_figure()
    df = df.iloc[::-1]
    bar = {"type": "bar", "orientation": "h", "y": _values(df["agency_name"]), "x": _values(df["satisfaction_mean"]),
           "marker": {"color": _rating_colors(df["satisfaction_mean"])},
           "text": _rating_labels(df["satisfaction_mean"], df["rating_count"]), "textposition": "auto",
           "customdata": _rows(df[["rating_count", "share_low"]]),
           "hovertemplate": "%{y}<br>Điểm TB: %{x:.2f}<br>Số đánh giá: %{customdata[0]:,d}"
                            "<br>Tỷ lệ 1–2 sao: %{customdata[1]:.1%}<extra></extra>"}
    return figure([bar], _bar_height(len(df)), xaxis={"range": [0, 5], "title": {"text": text.AXIS_RATING},
                                                      "dtick": 1}, yaxis={"automargin": True})


def trend_figure(trend: pd.DataFrame, colors: dict[str, str], tickformat: str = "%m/%Y") -> dict:
    """Stacked areas of report counts per period, one per category."""
    if trend.empty:
        return empty_figure()
    lines = []
    for key, part in trend.groupby("key", sort=False):
        name = part["name"].iloc[0]
        lines.append({"type": "scatter", "x": _dates(part["period"]), "y": _values(part["n"]), "name": name,
                      "mode": "lines", "stackgroup": "one", "line": {"width": 1, "color": colors.get(key)},
                      "hovertemplate": "%{x|%d/%m/%Y}<br>" + name + ": %{y:,d}<extra></extra>"})
    return figure(lines, xaxis={"tickformat": tickformat, "type": "date"},
                  yaxis={"title": {"text": text.AXIS_REPORTS}})


def channel_figure(channels: pd.DataFrame) -> dict:
    """Donut of reports per intake channel."""
    if channels.empty:
        return empty_figure()
    pie = {"type": "pie", "labels": [text.CHANNEL_LABELS.get(k, k) for k in channels["key"]],
           "values": _values(channels["n"]), "hole": 0.55, "sort": False,
           "marker": {"colors": ["#145a96", "#1d9bd7", "#4267b2", "#f28e2b"]},
           "texttemplate": "%{percent:.1%}", "hovertemplate": "%{label}: %{value:,d}<extra></extra>"}
    return figure([pie])


def agency_vs_province_figure(agency: pd.DataFrame, province: pd.DataFrame, column: str, percent: bool,
                              y_range: list | None = None) -> dict:
    """Two monthly lines: the agency and the whole province."""
    if agency.empty and province.empty:
        return empty_figure(height=300)
    scale = 100 if percent else 1
    fmt = ".1f" if percent else ".2f"
    lines = [
        {"type": "scatter", "x": _dates(frame["month"]), "y": _values(frame[column] * scale), "name": name,
         "mode": "lines+markers", "line": {"color": color, "width": width},
         "hovertemplate": "%{x|%m/%Y}<br>" + name + ": %{y:" + fmt + "}" + (" %" if percent else "")
                          + "<extra></extra>"}
        for frame, name, color, width in ((province, text.SERIES_PROVINCE, "#9aa7b4", 2),
                                          (agency, text.SERIES_AGENCY, "#145a96", 3))
        if not frame.empty
    ]
    yaxis = {"ticksuffix": " %" if percent else "", **({"range": y_range} if y_range else {})}
    return figure(lines, 300, xaxis={"tickformat": "%m/%Y", "type": "date"}, yaxis=yaxis)


def worst_categories_figure(worst: pd.DataFrame) -> dict:
    """Mean rating per field, worst first, with the share of 1–2 star ratings."""
    if worst.empty:
        return empty_figure(height=300)
    df = worst.head(8).iloc[::-1]
    bar = {"type": "bar", "orientation": "h", "y": _values(df["category_name"]), "x": _values(df["satisfaction_mean"]),
           "marker": {"color": _rating_colors(df["satisfaction_mean"])},
           "text": _rating_labels(df["satisfaction_mean"], df["rating_count"]), "textposition": "auto",
           "customdata": [[v] for v in _values(df["share_low"])],
           "hovertemplate": "%{y}: %{x:.2f}<br>Tỷ lệ 1–2 sao: %{customdata[0]:.1%}<extra></extra>"}
    return figure([bar], 300, xaxis={"range": [0, 5], "dtick": 1, "title": {"text": text.AXIS_RATING}},
                  yaxis={"automargin": True})


WALL_INK = "#e8eef5"


def wall_style(fig: dict, height: int | None = None) -> dict:
    """The wall's dark look: light ink, large type, no toolbar clutter; sizes follow the screen."""
    grid = {"gridcolor": "#24384d", "zerolinecolor": "#2d455e", "tickfont": {"size": 18}}
    return {"data": fig["data"], "layout": _merge(fig["layout"], {
        "height": height, "autosize": True, "margin": {"l": 10, "r": 20, "t": 10, "b": 10},
        "font": {"family": FONT, "size": 20, "color": WALL_INK}, "separators": ",.",
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)", "showlegend": True,
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0, "font": {"size": 18}},
        "uirevision": "wall",  # keep the view steady across refreshes
        "xaxis": grid, "yaxis": {**grid, "automargin": True},
    })}


def wall_ranking_figure(table: pd.DataFrame, column: str, percent: bool) -> dict:
    """Ranked agencies of the period on one measure, best on top."""
    df = table[table["ranked"] & table[column].notna()].sort_values(column, ascending=False).head(12).iloc[::-1]
    if df.empty:
        return wall_style(empty_figure())
    values = _values(df[column] * (100 if percent else 1))
    colors = ["#3fb950" if v >= (90 if percent else 4) else "#d29922" if v >= (75 if percent else 3.5) else "#f85149"
              for v in values]
    bar = {"type": "bar", "orientation": "h", "y": _values(df["name"]), "x": values, "marker": {"color": colors},
           "text": [fmt_decimal(v, 1 if percent else 2) + (" %" if percent else "") for v in values],
           "textposition": "inside", "insidetextanchor": "end", "textfont": {"size": 20, "color": "#0b1622"},
           "hoverinfo": "skip"}
    fig = wall_style(figure([bar], xaxis={"range": [0, 100] if percent else [0, 5], "showticklabels": False}))
    fig["layout"]["showlegend"] = False
    return fig
