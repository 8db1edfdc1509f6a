"""Figure builders: tidy frames in, plotly figures out. No queries here."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard import text
from dashboard.formatting import fmt_decimal

FONT = "Segoe UI, Roboto, Noto Sans, DejaVu Sans, Arial, sans-serif"
MAX_AGENCY_BARS = 15
# An agency with a handful of ratings would top the chart by chance; show it only from this many.
MIN_RATINGS_SHOWN = 5


def base_layout(fig: go.Figure, height: int = 360) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 8, "r": 12, "t": 8, "b": 8},
        font={"family": FONT, "size": 13, "color": "#1b2733"},
        separators=",.",  # Vietnamese: decimal comma, thousands dot
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0},
        hoverlabel={"font": {"family": FONT}},
    )
    fig.update_xaxes(gridcolor="#e3e8ee", zerolinecolor="#cfd7df")
    fig.update_yaxes(gridcolor="#e3e8ee", zerolinecolor="#cfd7df")
    return fig


def empty_figure(message: str = text.EMPTY, height: int = 360) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font={"size": 15, "color": "#5b6b7b"},
                       xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return base_layout(fig, height)


def _bar_height(rows: int) -> int:
    return max(220, 26 * rows + 70)


def backlog_figure(backlog: pd.DataFrame) -> go.Figure:
    """Stacked horizontal bars per agency, busiest backlog on top: overdue, pending in time, resolved.
    Resolved starts hidden (one click on its legend shows it): it dwarfs the backlog leaders look for."""
    if backlog.empty:
        return empty_figure()
    df = backlog.head(MAX_AGENCY_BARS).iloc[::-1]
    in_time = df["pending"] - df["overdue"]
    fig = go.Figure()
    for values, name, color, visible in (
        (df["overdue"], text.SERIES_OVERDUE, text.OVERDUE_COLOR, True),
        (in_time, text.SERIES_PENDING, text.STATUS_COLORS["in_progress"], True),
        (df["resolved"], text.SERIES_RESOLVED, "#8cc7a3", "legendonly"),
    ):
        fig.add_bar(y=df["agency_name"], x=values, name=name, orientation="h", marker_color=color,
                    visible=visible, hovertemplate="%{y}<br>" + name + ": %{x:,d}<extra></extra>")
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title_text=text.AXIS_REPORTS)
    fig.update_yaxes(automargin=True)
    return base_layout(fig, _bar_height(len(df)))


def satisfaction_figure(satisfaction: pd.DataFrame) -> go.Figure:
    """Mean rating per agency with its number of ratings, for agencies with enough ratings."""
    df = satisfaction[satisfaction["rating_count"] >= MIN_RATINGS_SHOWN]
    if df.empty:
        return empty_figure()
    df = df.iloc[::-1]
    colors = ["#198754" if m >= 4 else "#ffc107" if m >= 3 else text.OVERDUE_COLOR for m in df["satisfaction_mean"]]
    labels = [f"{fmt_decimal(m, 2)} ({text.RATINGS_N.format(n=n)})"
              for m, n in zip(df["satisfaction_mean"], df["rating_count"], strict=True)]
    fig = go.Figure(go.Bar(
        y=df["agency_name"], x=df["satisfaction_mean"], orientation="h", marker_color=colors, text=labels,
        textposition="auto", customdata=df[["rating_count", "share_low"]].to_numpy(),
        hovertemplate="%{y}<br>Điểm TB: %{x:.2f}<br>Số đánh giá: %{customdata[0]:,d}"
                      "<br>Tỷ lệ 1–2 sao: %{customdata[1]:.1%}<extra></extra>",
    ))
    fig.update_xaxes(range=[0, 5], title_text=text.AXIS_RATING, dtick=1)
    fig.update_yaxes(automargin=True)
    return base_layout(fig, _bar_height(len(df)))


def trend_figure(trend: pd.DataFrame, colors: dict[str, str], tickformat: str = "%m/%Y") -> go.Figure:
    """Stacked areas of report counts per period, one per category."""
    if trend.empty:
        return empty_figure()
    fig = go.Figure()
    periods = pd.to_datetime(trend["period"])
    for key, part in trend.assign(period=periods).groupby("key", sort=False):
        fig.add_scatter(x=part["period"], y=part["n"], name=part["name"].iloc[0], mode="lines",
                        stackgroup="one", line={"width": 1, "color": colors.get(key)},
                        hovertemplate="%{x|%d/%m/%Y}<br>" + part["name"].iloc[0] + ": %{y:,d}<extra></extra>")
    fig.update_xaxes(tickformat=tickformat)
    fig.update_yaxes(title_text=text.AXIS_REPORTS)
    return base_layout(fig)


def channel_figure(channels: pd.DataFrame) -> go.Figure:
    """Donut of reports per intake channel."""
    if channels.empty:
        return empty_figure()
    labels = [text.CHANNEL_LABELS.get(k, k) for k in channels["key"]]
    fig = go.Figure(go.Pie(labels=labels, values=channels["n"], hole=0.55, sort=False,
                           marker={"colors": ["#145a96", "#1d9bd7", "#4267b2", "#f28e2b"]},
                           texttemplate="%{percent:.1%}", hovertemplate="%{label}: %{value:,d}<extra></extra>"))
    return base_layout(fig)


def agency_vs_province_figure(agency: pd.DataFrame, province: pd.DataFrame, column: str, percent: bool,
                              y_range: list | None = None) -> go.Figure:
    """Two monthly lines: the agency and the whole province."""
    if agency.empty and province.empty:
        return empty_figure(height=300)
    fig = go.Figure()
    scale = 100 if percent else 1
    fmt = ".1f" if percent else ".2f"
    for frame, name, color, width in ((province, text.SERIES_PROVINCE, "#9aa7b4", 2),
                                      (agency, text.SERIES_AGENCY, "#145a96", 3)):
        if frame.empty:
            continue
        fig.add_scatter(x=pd.to_datetime(frame["month"]), y=frame[column] * scale, name=name, mode="lines+markers",
                        line={"color": color, "width": width},
                        hovertemplate="%{x|%m/%Y}<br>" + name + ": %{y:" + fmt + "}" + (" %" if percent else "")
                        + "<extra></extra>")
    fig.update_xaxes(tickformat="%m/%Y")
    if y_range:
        fig.update_yaxes(range=y_range)
    fig.update_yaxes(ticksuffix=" %" if percent else "")
    return base_layout(fig, 300)


def worst_categories_figure(worst: pd.DataFrame) -> go.Figure:
    """Mean rating per field, worst first, with the share of 1–2 star ratings."""
    if worst.empty:
        return empty_figure(height=300)
    df = worst.head(8).iloc[::-1]
    colors = ["#198754" if m >= 4 else "#ffc107" if m >= 3 else text.OVERDUE_COLOR for m in df["satisfaction_mean"]]
    fig = go.Figure(go.Bar(
        y=df["category_name"], x=df["satisfaction_mean"], orientation="h", marker_color=colors,
        text=[f"{fmt_decimal(m, 2)} ({text.RATINGS_N.format(n=n)})"
              for m, n in zip(df["satisfaction_mean"], df["rating_count"], strict=True)],
        textposition="auto", customdata=df[["share_low"]].to_numpy(),
        hovertemplate="%{y}: %{x:.2f}<br>Tỷ lệ 1–2 sao: %{customdata[0]:.1%}<extra></extra>"))
    fig.update_xaxes(range=[0, 5], dtick=1, title_text=text.AXIS_RATING)
    fig.update_yaxes(automargin=True)
    return base_layout(fig, 300)


WALL_INK = "#e8eef5"


def wall_style(fig: go.Figure, height: int | None = None) -> go.Figure:
    """The wall's dark look: light ink, large type, no toolbar clutter; sizes follow the screen."""
    fig.update_layout(
        height=height, autosize=True, margin={"l": 10, "r": 20, "t": 10, "b": 10},
        font={"family": FONT, "size": 20, "color": WALL_INK}, separators=",.",
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)", showlegend=True,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0, "font": {"size": 18}},
        uirevision="wall",  # keep the view steady across refreshes
    )
    fig.update_xaxes(gridcolor="#24384d", zerolinecolor="#2d455e", tickfont={"size": 18})
    fig.update_yaxes(gridcolor="#24384d", zerolinecolor="#2d455e", tickfont={"size": 18}, automargin=True)
    return fig


def wall_ranking_figure(table: pd.DataFrame, column: str, percent: bool) -> go.Figure:
    """Ranked agencies of the period on one measure, best on top."""
    df = table[table["ranked"] & table[column].notna()].sort_values(column, ascending=False).head(12).iloc[::-1]
    if df.empty:
        return wall_style(empty_figure())
    values = df[column] * (100 if percent else 1)
    colors = ["#3fb950" if v >= (90 if percent else 4) else "#d29922" if v >= (75 if percent else 3.5) else "#f85149"
              for v in values]
    fig = go.Figure(go.Bar(y=df["name"], x=values, orientation="h", marker_color=colors,
                           text=[fmt_decimal(v, 1 if percent else 2) + (" %" if percent else "") for v in values],
                           textposition="inside", insidetextanchor="end", textfont={"size": 20, "color": "#0b1622"},
                           hoverinfo="skip"))
    fig.update_xaxes(range=[0, 100] if percent else [0, 5], showticklabels=False)
    fig = wall_style(fig)
    fig.update_layout(showlegend=False)
    return fig
