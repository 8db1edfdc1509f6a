"""The one filter bar: period, category, agency, commune and channel. Its values round-trip through the
URL query string (`Filter.to_params`), so a view can be shared as a link."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from dash import dcc, html

from dashboard import ids, text
from queries.filters import Filter, local_today

DEFAULT_PRESET = "12m"


def preset_range(preset: str | None, today: date | None = None) -> tuple[date | None, date | None]:
    today = today or local_today()
    if preset == "7d":
        return today - timedelta(days=6), today
    if preset == "30d":
        return today - timedelta(days=29), today
    if preset == "month":
        return today.replace(day=1), today
    if preset == "ytd":
        return today.replace(month=1, day=1), today
    if preset == "all":
        return None, None
    # 12 months: the same day a year ago, plus one, through today.
    try:
        year_ago = today.replace(year=today.year - 1)
    except ValueError:  # 29/02
        year_ago = today.replace(year=today.year - 1, day=28)
    return year_ago + timedelta(days=1), today


def default_filter() -> Filter:
    start, end = preset_range(DEFAULT_PRESET)
    return Filter(start=start, end=end)


def filter_from_inputs(start, end, categories, agencies, communes, channels) -> Filter:
    """A Filter from the bar's values (dates arrive as ISO strings, lists may be None)."""
    return Filter.from_params({
        "from": (start or "")[:10], "to": (end or "")[:10], "category": categories or [],
        "agency": agencies or [], "commune": communes or [], "channel": channels or [],
    })


def _options(frame: pd.DataFrame, label: str = "short_name") -> list[dict]:
    return [{"label": row[label], "value": row["code"]} for _, row in frame.iterrows()]


def _dropdown(component_id: str, options: list[dict], value, **kwargs) -> dcc.Dropdown:
    """A multi-select in Vietnamese; 'Tất cả' when nothing is chosen."""
    settings = {"multi": True, "placeholder": text.FILTER_ALL, "labels": text.DROPDOWN_LABELS, **kwargs}
    return dcc.Dropdown(id=component_id, options=options, value=value, **settings)


def _field(label: str, control, class_name: str = "") -> html.Div:
    return html.Div(className=f"filter-field {class_name}".strip(), children=[
        html.Label(label, className="filter-label"), control])


def filter_bar(f: Filter, categories: pd.DataFrame, agencies: pd.DataFrame, communes: pd.DataFrame,
               scope_name: str | None = None) -> html.Div:
    """The bar, pre-set to `f`. For an agency head (`scope_name` set, `agencies` holding only their own)
    the agency choice is fixed."""
    # An agency head's scope is enforced in queries/; the disabled control only shows it.
    agency_control = _dropdown(ids.FILTER_AGENCY, _options(agencies),
                               list(agencies["code"]) if scope_name else list(f.agencies),
                               disabled=bool(scope_name), clearable=not scope_name)
    presets = [{"label": v, "value": k} for k, v in text.PRESETS.items()]
    channels = [{"label": v, "value": k} for k, v in text.CHANNEL_LABELS.items()]
    return html.Div(className="filter-bar", children=[
        _field(text.FILTER_PRESET, _dropdown(ids.FILTER_PRESET, presets, None, multi=False, searchable=False,
                                             placeholder="—"), "filter-preset"),
        _field(text.FILTER_PERIOD, dcc.DatePickerRange(
            id=ids.FILTER_DATES, start_date=f.start.isoformat() if f.start else None,
            end_date=f.end.isoformat() if f.end else None, display_format="DD/MM/YYYY", first_day_of_week=1,
            clearable=True, start_date_placeholder_text="Từ ngày", end_date_placeholder_text="Đến ngày",
            max_date_allowed=(local_today() + timedelta(days=1)).isoformat()), "filter-dates"),
        _field(text.FILTER_CATEGORY, _dropdown(ids.FILTER_CATEGORY, _options(categories, "name"),
                                               list(f.categories))),
        _field(text.FILTER_AGENCY, agency_control),
        _field(text.FILTER_COMMUNE, _dropdown(ids.FILTER_COMMUNE, _options(communes, "name"), list(f.communes))),
        _field(text.FILTER_CHANNEL, _dropdown(ids.FILTER_CHANNEL, channels, list(f.channels), searchable=False)),
        html.Button(text.FILTER_RESET, id=ids.FILTER_RESET, className="btn-link filter-reset", n_clicks=0),
    ])
