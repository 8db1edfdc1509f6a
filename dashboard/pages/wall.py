"""Màn hình lớn: the leaders' wall screen. Dark, large type, no controls; panels rotate on a timer set per
screen; data refresh every 30 s by default, the map's points re-sent only when the data changed; when the
database is unreachable the last data stays with a banner saying since when."""

from __future__ import annotations

from datetime import timedelta

import dash
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from dashboard import ids, text
from dashboard.auth import current_scope
from dashboard.cache import kept_warm
from dashboard.components import charts
from dashboard.components.map import commune_markers, points_url, wall_map
from dashboard.formatting import fmt_decimal, fmt_int, fmt_pct, now_local_text
from queries import metrics, options, overview, wall
from queries.display_tokens import PANELS, ScreenSettings
from queries.filters import LOCAL_TZ, Filter, local_today, utc_now, utc_to_local

dash.register_page(__name__, path="/wall", title=f"{text.WALL_TITLE}", name="Màn hình lớn", order=5,
                   roles=("admin", "leader", "operator"))


def screen_settings(query: dict) -> ScreenSettings:
    """A display token's own settings; anyone else (a leader previewing) may set them in the URL."""
    if current_user.is_authenticated and current_user.role == "display":
        return current_user.screen.settings
    raw = {"panels": query["panels"].split(",") if isinstance(query.get("panels"), str) else None}
    for key, param in (("refresh_seconds", "refresh"), ("rotate_seconds", "rotate")):
        if query.get(param):
            raw[key] = query[param]
    return ScreenSettings.parse(raw)


def _kpi(name: str, label: str) -> html.Div:
    return html.Div(className="wall-kpi", children=[html.Div(label, className="wall-kpi-label",
                                                             id=f"{ids.WALL_KPIS}-{name}-label"),
                                                    html.Div("—", className="wall-kpi-value",
                                                             id=f"{ids.WALL_KPIS}-{name}")])


KPI_NAMES = ("today", "month", "pending", "overdue", "on-time", "satisfaction")


def _panel(name: str, body, active: bool) -> html.Section:
    return html.Section(id=ids.wall_panel(name), className="wall-panel" + (" active" if active else ""), children=[
        html.H2(text.WALL_PANELS[name], className="wall-panel-title"), body])


def layout(**query):
    settings = screen_settings(query)
    first = settings.panels[0]
    # data-refresh tells assets/wall.js how often to check that the screen may still show.
    return html.Div(id=ids.WALL_ROOT, className="wall", **{"data-refresh": str(settings.refresh_seconds)},
                    children=[
        dcc.Store(id=ids.WALL_SETTINGS, data={"panels": list(settings.panels), "all": list(PANELS),
                                              "refresh_seconds": settings.refresh_seconds}),
        dcc.Store(id=ids.WALL_VERSION),
        dcc.Store(id=ids.WALL_LAST_OK),
        dcc.Store(id=ids.WALL_MAP_BASE),
        dcc.Interval(id=ids.WALL_REFRESH, interval=settings.refresh_seconds * 1000),
        dcc.Interval(id=ids.WALL_ROTATE, interval=settings.rotate_seconds * 1000),
        dcc.Interval(id=ids.WALL_CLOCK_TICK, interval=1000),
        html.Header(className="wall-head", children=[
            html.Div(text.WALL_TITLE, className="wall-title"),
            html.Div(id=ids.WALL_BANNER, className="wall-banner hidden", role="status"),
            html.Div(id=ids.WALL_FRESHNESS, className="wall-freshness"),
            html.Div(id=ids.WALL_CLOCK, className="wall-clock"),
        ]),
        html.Div(className="wall-body", children=[
            _panel("kpis", html.Div(className="wall-kpis-map", children=[
                html.Div(className="wall-kpi-grid", children=[_kpi(n, "") for n in KPI_NAMES]),
                html.Div(className="wall-map", children=wall_map(None)),
            ]), first == "kpis"),
            _panel("ranking", html.Div(className="wall-two", children=[
                html.Div([html.H3(id=ids.WALL_RANK_ON_TIME + "-title"),
                          dcc.Graph(id=ids.WALL_RANK_ON_TIME, config={"displayModeBar": False},
                                    className="wall-graph")]),
                html.Div([html.H3(id=ids.WALL_RANK_SATISFACTION + "-title"),
                          dcc.Graph(id=ids.WALL_RANK_SATISFACTION, config={"displayModeBar": False},
                                    className="wall-graph")]),
            ]), first == "ranking"),
            _panel("trends", html.Div(className="wall-two wall-two-wide", children=[
                html.Div([html.H3(text.WALL_TREND), dcc.Graph(id=ids.WALL_TREND, config={"displayModeBar": False},
                                                              className="wall-graph")]),
                html.Div([html.H3(text.WALL_CATEGORIES),
                          dcc.Graph(id=ids.WALL_CATEGORIES, config={"displayModeBar": False},
                                    className="wall-graph")]),
            ]), first == "trends"),
            _panel("ticker", html.Div(id=ids.WALL_TICKER, className="wall-ticker"), first == "ticker"),
            _panel("alerts", html.Div(id=ids.WALL_ALERTS, className="wall-alerts"), first == "alerts"),
        ]),
        html.Div(id=ids.WALL_DOTS, className="wall-dots", children=[
            html.Span(text.WALL_PANELS[p], id=f"{ids.WALL_DOTS}-{p}",
                      className="wall-dot" + (" active" if p == first else "") + ("" if p in settings.panels
                                                                                  else " off"))
            for p in PANELS]),
    ])


def _kpi_values(numbers: dict) -> list:
    month = numbers["month_label"].lower()
    labels = [text.WALL_TODAY, text.WALL_MONTH.format(month=month), text.WALL_PENDING, text.WALL_OVERDUE,
              text.WALL_MONTH_METRIC.format(label=metrics.label("agency_on_time_rate"), month=month),
              text.WALL_MONTH_METRIC.format(label=metrics.label("satisfaction_mean"), month=month)]
    values = [fmt_int(numbers["today_received"]), fmt_int(numbers["month_received"]), fmt_int(numbers["pending"]),
              fmt_int(numbers["overdue"]), fmt_pct(numbers["month_agency_on_time_rate"]),
              fmt_decimal(numbers["month_satisfaction_mean"], 2)]
    return labels + values


def _ticker(newest) -> list:
    rows = []
    for rec in newest.to_dict("records"):
        rows.append(html.Div(className="wall-ticker-row" + (" urgent" if rec["urgent"] else ""), children=[
            html.Span(utc_to_local(rec["created_at"]).strftime("%H:%M %d/%m"), className="t-time"),
            html.Span(rec["code"], className="t-code"),
            html.Span(rec["category"] or "", className="t-cat"),
            html.Span(rec["commune"] or "", className="t-commune"),
            html.Span(text.STATUS_LABELS.get(rec["status"], rec["status"]), className=f"t-status s-{rec['status']}"),
        ]))
    return rows


def _alerts(urgent, spikes, overdue) -> list:
    def column(title, items):
        return html.Div(className="wall-alert-col", children=[
            html.H3(title), html.Ul([html.Li(i) for i in items] or [html.Li(text.WALL_NONE, className="none")])])

    urgent_items = [f"{utc_to_local(r['created_at']).strftime('%H:%M')} · {r['category'] or ''} · {r['commune'] or ''}"
                    for r in urgent.to_dict("records")]
    spike_items = [text.WALL_SPIKE_ITEM.format(name=s["name"], count=fmt_int(s["count"]),
                                               usual=fmt_decimal(s["usual"], 1)) for s in spikes.to_dict("records")]
    overdue_items = [text.WALL_OVERDUE_ITEM.format(name=a["agency_name"], overdue=fmt_int(a["overdue"]),
                                                   pending=fmt_int(a["pending"])) for a in overdue.to_dict("records")]
    return [column(text.WALL_URGENT, urgent_items), column(text.WALL_SPIKES, spike_items),
            column(text.WALL_TOP_OVERDUE, overdue_items)]


def build_wall(scope: str | None = None) -> dict:
    """Everything the wall shows, from the database: one answer, cached and kept warm, for every screen."""
    now = utc_now()
    version = overview.data_version()
    today = local_today(now)
    last_30 = Filter(start=today - timedelta(days=29), end=today)
    numbers = wall.headline(now)
    table, period = wall.month_ranking(today)
    month = period.label.lower()
    per_day = overview.counts_over_time(last_30, "day", "category")
    category_rows = overview.totals(per_day)
    colors = {row["code"]: row["color"] for row in options.category_options().to_dict("records")}
    return {
        "kpis": _kpi_values(numbers),
        "points_url": points_url(last_30, version=version),
        "communes": commune_markers(overview.commune_counts(last_30, now=now)),
        "rank_on_time": charts.wall_ranking_figure(table, "agency_on_time_rate", percent=True),
        "rank_on_time_title": text.WALL_RANK_ON_TIME.format(month=month),
        "rank_satisfaction": charts.wall_ranking_figure(table, "satisfaction_mean", percent=False),
        "rank_satisfaction_title": text.WALL_RANK_SATISFACTION.format(month=month),
        "trend": charts.wall_style(charts.trend_figure(per_day, colors, tickformat="%d/%m")),
        "categories": charts.wall_style(charts.channel_figure(category_rows.assign(key=category_rows["name"]))),
        "ticker": _ticker(wall.newest_reports(12, scope=scope)),
        "alerts": _alerts(wall.urgent_new(24, now, scope=scope), wall.spikes(now),
                          wall.top_overdue_agencies(5, now)),
        "version": version,
    }


KPI_OUTPUTS = [Output(f"{ids.WALL_KPIS}-{n}-label", "children") for n in KPI_NAMES] + \
              [Output(f"{ids.WALL_KPIS}-{n}", "children") for n in KPI_NAMES]


@callback(
    *KPI_OUTPUTS,
    Output(ids.WALL_MAP_BASE, "data"),
    Output(ids.WALL_MAP_COMMUNES, "children"),
    Output(ids.WALL_RANK_ON_TIME, "figure"),
    Output(ids.WALL_RANK_ON_TIME + "-title", "children"),
    Output(ids.WALL_RANK_SATISFACTION, "figure"),
    Output(ids.WALL_RANK_SATISFACTION + "-title", "children"),
    Output(ids.WALL_TREND, "figure"),
    Output(ids.WALL_CATEGORIES, "figure"),
    Output(ids.WALL_TICKER, "children"),
    Output(ids.WALL_ALERTS, "children"),
    Output(ids.WALL_VERSION, "data"),
    Output(ids.WALL_FRESHNESS, "children"),
    Output(ids.WALL_BANNER, "children"),
    Output(ids.WALL_BANNER, "className"),
    Output(ids.WALL_LAST_OK, "data"),
    Input(ids.WALL_REFRESH, "n_intervals"),
    State(ids.WALL_VERSION, "data"),
    State(ids.WALL_LAST_OK, "data"),
)
def refresh_wall(_tick, version, last_ok):
    try:
        w = kept_warm(build_wall, current_scope())
    except SQLAlchemyError:
        banner = text.WALL_DB_DOWN.format(time=last_ok) if last_ok else text.WALL_DB_DOWN_NO_DATA
        return (*([no_update] * (len(KPI_OUTPUTS) + 11)), no_update, banner, "wall-banner", no_update)
    stamp = now_local_text()
    moved = w["version"] != version  # the map is redrawn only when the data moved
    return (*w["kpis"], w["points_url"] if moved else no_update, w["communes"] if moved else no_update,
            w["rank_on_time"], w["rank_on_time_title"],
            w["rank_satisfaction"], w["rank_satisfaction_title"], w["trend"], w["categories"], w["ticker"],
            w["alerts"], w["version"], text.WALL_DATA_AS_OF.format(time=stamp), "", "wall-banner hidden",
            stamp[:5])


# The map asks for grid cells at the zoom the screen's size gives it (no bbox: the province view); the
# request changes only when the data version (in the base URL) or that zoom does.
clientside_callback(
    """
    function (base, zoom) {
        if (!base) { return window.dash_clientside.no_update; }
        return base + (base.indexOf("?") < 0 ? "?" : "&") + "zoom=" + Math.floor(zoom || 8);
    }
    """,
    Output(ids.WALL_MAP_POINTS, "url"),
    Input(ids.WALL_MAP_BASE, "data"),
    Input(ids.WALL_MAP, "zoom"),
)

# Rotation and the clock run in the browser: no request, no flicker.
clientside_callback(
    """
    function (n, settings) {
        var panels = (settings && settings.panels) || [];
        var all = (settings && settings.all) || [];
        var active = panels.length ? panels[(n || 0) % panels.length] : all[0];
        var classes = all.map(function (p) {
            if (panels.indexOf(p) < 0) { return "wall-panel off"; }
            return p === active ? "wall-panel active" : "wall-panel";
        });
        var dots = all.map(function (p) {
            if (panels.indexOf(p) < 0) { return "wall-dot off"; }
            return p === active ? "wall-dot active" : "wall-dot";
        });
        return classes.concat(dots);
    }
    """,
    *[Output(ids.wall_panel(p), "className") for p in PANELS],
    *[Output(f"{ids.WALL_DOTS}-{p}", "className") for p in PANELS],
    Input(ids.WALL_ROTATE, "n_intervals"),
    State(ids.WALL_SETTINGS, "data"),
)

clientside_callback(
    """
    function (n) {
        var now = new Date();
        var opts = {timeZone: "__TIME_ZONE__", hour12: false};
        var time = now.toLocaleTimeString("vi-VN", Object.assign({hour: "2-digit", minute: "2-digit",
                                                                   second: "2-digit"}, opts));
        var date = now.toLocaleDateString("vi-VN", Object.assign({day: "2-digit", month: "2-digit",
                                                                   year: "numeric"}, opts));
        return time + "  " + date;
    }
    """.replace("__TIME_ZONE__", LOCAL_TZ.key),
    Output(ids.WALL_CLOCK, "children"),
    Input(ids.WALL_CLOCK_TICK, "n_intervals"),
)
