"""Tổng quan: the leaders' overview. KPI cards, the map, backlog and satisfaction by agency, the trend
by category and the channel mix, all driven by one filter bar kept in the URL."""

from __future__ import annotations

import dash
import pandas as pd
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy.exc import SQLAlchemyError

from dashboard import ids, text
from dashboard.answers import overview_counts
from dashboard.api import MAP_POINT_LIMIT, map_view
from dashboard.auth import current_scope
from dashboard.cache import cached
from dashboard.components import charts
from dashboard.components.filter_bar import (
    default_filter,
    filter_bar,
    filter_from_inputs,
    preset_range,
)
from dashboard.components.info import info_icon
from dashboard.components.kpi_card import kpi_card
from dashboard.components.map import commune_markers, map_note, points_url, report_map, viewport_params
from dashboard.formatting import fmt_decimal, fmt_int, fmt_pct, now_local_text, query_timeout_text
from queries import maps, metrics, options, overview
from queries.db import is_timeout
from queries.filters import Filter, FilterError

dash.register_page(__name__, path="/", title=f"{text.NAV_OVERVIEW} · {text.APP_TITLE}", name=text.NAV_OVERVIEW,
                   order=0)
# The registry's metrics on the cards, whose definitions the info panel lists.
SHOWN = metrics.require("received", "resolved", "pending", "overdue", "agency_on_time_rate", "satisfaction_mean")

REFRESH_MS = 60_000
FILTER_INPUTS = [
    Input(ids.FILTER_DATES, "start_date"),
    Input(ids.FILTER_DATES, "end_date"),
    Input(ids.FILTER_CATEGORY, "value"),
    Input(ids.FILTER_AGENCY, "value"),
    Input(ids.FILTER_COMMUNE, "value"),
    Input(ids.FILTER_CHANNEL, "value"),
]


def filter_from_query(query: dict) -> Filter:
    """The page's filter from its URL; a URL without one, or with a bad date, gets the default view."""
    keys = {"from", "to", "category", "agency", "commune", "channel", "period"}
    if not keys & set(query):
        return default_filter()
    try:
        return Filter.from_params(query)
    except FilterError:
        return default_filter()


def _lookups(categories, agencies) -> dict:
    return {
        "status": text.STATUS_LABELS,
        "colors": text.STATUS_COLORS,
        "category": dict(zip(categories["code"], categories["short_name"], strict=True)),
        "agency": dict(zip(agencies["code"], agencies["short_name"], strict=True)),
        "unassigned": overview.IOC_QUEUE_NAME,
    }


def _panel(title: str, body, class_name: str = "") -> html.Section:
    return html.Section(className=f"panel {class_name}".strip(), children=[html.H2(title), body])


def _graph(graph_id: str):
    return dcc.Graph(id=graph_id, config={"displaylogo": False, "locale": "vi"}, figure=charts.empty_figure(""))


def layout(**query):
    f = filter_from_query(query)
    scope = current_scope()
    try:
        categories, agencies, communes = (options.category_options(), options.agency_options(scope),
                                          options.commune_options())
    except SQLAlchemyError:
        # The callback shows the connection banner; the page itself must still render.
        categories = pd.DataFrame(columns=["code", "name", "short_name", "color"])
        agencies = pd.DataFrame(columns=["code", "name", "short_name"])
        communes = pd.DataFrame(columns=["code", "name"])
    scope_name = agencies["short_name"].iloc[0] if scope and not agencies.empty else None
    return html.Div(className="overview", children=[
        filter_bar(f, categories, agencies, communes, scope_name),
        html.Div(className="status-row", children=[
            html.Div(id=ids.OV_BANNER, className="banner hidden", role="status"),
            html.Div(id=ids.OV_FRESHNESS, className="freshness"),
            info_icon([text.PERIOD_RULE, *metrics.explanations(SHOWN)]),
        ]),
        html.Div(id=ids.OV_KPIS, className="kpi-row"),
        html.Div(className="grid-2", children=[
            # No url yet: update_map_view sets it once the filter and data version are known.
            _panel(text.PANEL_MAP, report_map(None, _lookups(categories, agencies)), "panel-map"),
            _panel(text.PANEL_BACKLOG, _graph(ids.OV_BACKLOG)),
        ]),
        html.Div(className="grid-2", children=[
            _panel(text.PANEL_TREND, _graph(ids.OV_TREND)),
            _panel(text.PANEL_CHANNELS, _graph(ids.OV_CHANNELS)),
        ]),
        _panel(text.PANEL_SATISFACTION, _graph(ids.OV_SATISFACTION)),
        dcc.Interval(id=ids.OV_REFRESH, interval=REFRESH_MS),
        dcc.Store(id=ids.OV_LAST_OK),
        dcc.Store(id=ids.OV_MAP_PARAMS),
        dcc.Store(id=ids.URL_SYNC),
    ])


def trend_grain(f: Filter) -> str:
    if f.start is None or f.end is None:
        return "month"
    span = (f.end - f.start).days
    return "day" if span <= 62 else "week" if span <= 400 else "month"


def kpi_cards(head) -> list:
    total, pending = int(head["total"]), int(head["pending"])
    overdue_share = head["overdue"] / pending if pending else None
    on_time = head["agency_on_time_rate"]
    sat = head["satisfaction_mean"]
    return [
        kpi_card("total", metrics.label("received"), fmt_int(total),
                 text.KPI_TOTAL_NOTE.format(rejected=fmt_int(head["rejected"])), raw=total),
        kpi_card("resolved", metrics.label("resolved"), fmt_int(head["resolved"]),
                 text.KPI_RESOLVED_NOTE.format(share=fmt_pct(head["resolved"] / total if total else None)), "good",
                 raw=int(head["resolved"])),
        kpi_card("pending", metrics.label("pending"), fmt_int(pending), text.KPI_PENDING_NOTE, "warn", raw=pending),
        kpi_card("overdue", metrics.label("overdue"), fmt_int(head["overdue"]),
                 text.KPI_OVERDUE_NOTE.format(share=fmt_pct(overdue_share)),
                 "bad" if head["overdue"] else "neutral", raw=int(head["overdue"])),
        kpi_card("on-time", metrics.label("agency_on_time_rate"), fmt_pct(on_time),
                 text.KPI_ON_TIME_NOTE.format(n=fmt_int(head["agency_judged"])),
                 "good" if on_time == on_time and on_time >= 0.9 else "warn",
                 raw="" if on_time != on_time else round(float(on_time), 6)),
        kpi_card("satisfaction", metrics.label("satisfaction_mean"),
                 fmt_decimal(sat, 2) if sat == sat else text.NO_VALUE,
                 text.KPI_SATISFACTION_NOTE.format(n=fmt_int(head["rating_count"])),
                 raw="" if sat != sat else round(float(sat), 6)),
    ]


def build_overview(f: Filter) -> dict:
    """Every panel's content for one filter: the whole overview callback minus Dash plumbing."""
    if f.is_empty_range():
        return _empty_overview(f)
    counts = overview_counts(f)  # one scan for the headline, the backlog and the ratings, shared with the twin
    head = overview.headline_counts(f, counts=counts).iloc[0]
    backlog = overview.backlog_by_agency(f, counts=counts)
    satisfaction = overview.satisfaction_by_agency(f, counts=counts)
    trend = overview.counts_over_time(f, trend_grain(f), "category")
    channels = overview.counts_by(f, "channel")
    communes = overview.commune_counts(f)
    category_rows = options.category_options()
    colors = dict(zip(category_rows["code"], category_rows["color"], strict=True))
    return {
        "kpis": kpi_cards(head),
        "backlog": charts.backlog_figure(backlog),
        "satisfaction": charts.satisfaction_figure(satisfaction),
        "trend": charts.trend_figure(trend, colors),
        "channels": charts.channel_figure(channels),
        "map_params": {**f.to_params(), "v": overview.data_version()},
        "communes": commune_markers(communes),
    }


def _empty_overview(f: Filter) -> dict:
    zero = {"total": 0, "resolved": 0, "pending": 0, "overdue": 0, "rejected": 0, "agency_on_time_rate": float("nan"),
            "agency_judged": 0, "satisfaction_mean": float("nan"), "rating_count": 0}
    empty = charts.empty_figure()
    return {"kpis": kpi_cards(zero), "backlog": empty, "satisfaction": empty, "trend": empty, "channels": empty,
            "map_params": f.to_params(), "communes": []}


@callback(
    Output(ids.OV_KPIS, "children"),
    Output(ids.OV_BACKLOG, "figure"),
    Output(ids.OV_SATISFACTION, "figure"),
    Output(ids.OV_TREND, "figure"),
    Output(ids.OV_CHANNELS, "figure"),
    Output(ids.OV_MAP_PARAMS, "data"),
    Output(ids.OV_MAP_COMMUNES, "children"),
    Output(ids.OV_FRESHNESS, "children"),
    Output(ids.OV_BANNER, "children"),
    Output(ids.OV_BANNER, "className"),
    Output(ids.OV_LAST_OK, "data"),
    *FILTER_INPUTS,
    Input(ids.OV_REFRESH, "n_intervals"),
    State(ids.OV_LAST_OK, "data"),
)
def update_overview(start, end, categories, agencies, communes, channels, _tick, last_ok):
    try:
        f = filter_from_inputs(start, end, categories, agencies, communes, channels).scoped(current_scope())
    except FilterError:
        f = default_filter().scoped(current_scope())
    try:
        f, narrowing = cached(overview.narrow_to_limit, f)
        panels = cached(build_overview, f)
    except SQLAlchemyError as err:
        banner = text.DB_DOWN.format(time=last_ok) if last_ok else text.DB_DOWN_NO_DATA
        if is_timeout(err):
            banner = query_timeout_text()
        return (*([no_update] * 8), banner, "banner banner-error", no_update)
    stamp = now_local_text()
    banner, banner_class = "", "banner hidden"
    if narrowing:
        banner, banner_class = narrowing_text(narrowing), "banner banner-info"
    return (panels["kpis"], panels["backlog"], panels["satisfaction"], panels["trend"], panels["channels"],
            panels["map_params"], panels["communes"], text.DATA_AS_OF.format(time=stamp),
            banner, banner_class, stamp)


def narrowing_text(narrowing: overview.Narrowing) -> str:
    return text.VIEW_NARROWED.format(total=fmt_int(narrowing.total), start=narrowing.start.strftime("%d/%m/%Y"),
                                     shown=fmt_int(narrowing.shown))


@callback(
    Output(ids.OV_MAP_POINTS, "url"),
    Output(ids.OV_MAP_NOTE, "children"),
    Input(ids.OV_MAP_PARAMS, "data"),
    Input(ids.OV_MAP, "zoom"),
    Input(ids.OV_MAP, "bounds"),
)
def update_map_view(params, zoom, bounds):
    """The map's request for the filter and the viewport (dash-leaflet sets zoom and bounds on moveend, so
    one request per pan or zoom), and a note saying what it shows. The note's numbers come from the same
    cached answer the route then serves, so the view is computed once."""
    if params is None:
        raise PreventUpdate
    view = viewport_params(zoom, bounds)
    try:
        f = Filter.from_params(params).scoped(current_scope())
        zoom, bbox = maps.viewport_from_params(view)
        meta = cached(map_view, f, zoom, bbox, MAP_POINT_LIMIT)["meta"]
    except (FilterError, SQLAlchemyError):
        return no_update, no_update  # a bad stored filter or the database away: the main callback says so
    return points_url(f, params.get("v"), view), map_note(meta)


@callback(
    Output(ids.FILTER_DATES, "start_date"),
    Output(ids.FILTER_DATES, "end_date"),
    Input(ids.FILTER_PRESET, "value"),
    prevent_initial_call=True,
)
def apply_preset(preset):
    if not preset:
        return no_update, no_update
    start, end = preset_range(preset)
    return (start.isoformat() if start else None), (end.isoformat() if end else None)


@callback(
    Output(ids.FILTER_PRESET, "value"),
    Output(ids.FILTER_CATEGORY, "value"),
    Output(ids.FILTER_COMMUNE, "value"),
    Output(ids.FILTER_CHANNEL, "value"),
    Output(ids.FILTER_AGENCY, "value", allow_duplicate=True),
    Input(ids.FILTER_RESET, "n_clicks"),
    State(ids.FILTER_AGENCY, "disabled"),
    prevent_initial_call=True,
)
def reset_filters(_clicks, agency_locked):
    return "12m", [], [], [], (no_update if agency_locked else [])


# The URL follows the filter without reloading the page (replaceState fires no router event).
clientside_callback(
    """
    function (start, end, categories, agencies, communes, channels) {
        var params = new URLSearchParams();
        if (start) { params.set("from", start.slice(0, 10)); }
        if (end) { params.set("to", end.slice(0, 10)); }
        if (!start && !end) { params.set("period", "all"); }
        var lists = {category: categories, agency: agencies, commune: communes, channel: channels};
        Object.keys(lists).forEach(function (k) {
            if (lists[k] && lists[k].length) { params.set(k, lists[k].join(",")); }
        });
        var qs = params.toString();
        window.history.replaceState(null, "", window.location.pathname + (qs ? "?" + qs : ""));
        return qs;
    }
    """,
    Output(ids.URL_SYNC, "data"),
    *FILTER_INPUTS,
)

