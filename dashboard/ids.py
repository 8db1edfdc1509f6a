"""Component ids, app-wide. Dash needs every id unique across pages, so they all live here."""

# Shell
USER_BADGE = "user-badge"

# Filter bar (shared by every page that filters)
FILTER_PRESET = "filter-preset"
FILTER_DATES = "filter-dates"
FILTER_CATEGORY = "filter-category"
FILTER_AGENCY = "filter-agency"
FILTER_COMMUNE = "filter-commune"
FILTER_CHANNEL = "filter-channel"
FILTER_RESET = "filter-reset"
URL_SYNC = "url-sync"

# Overview
OV_REFRESH = "overview-refresh"
OV_BANNER = "overview-banner"
OV_FRESHNESS = "overview-freshness"
OV_LAST_OK = "overview-last-ok"
OV_KPIS = "overview-kpis"
OV_BACKLOG = "overview-backlog"
OV_SATISFACTION = "overview-satisfaction"
OV_TREND = "overview-trend"
OV_CHANNELS = "overview-channels"
OV_MAP = "overview-map"
OV_MAP_POINTS = "overview-map-points"
OV_MAP_COMMUNES = "overview-map-communes"
OV_MAP_NOTE = "overview-map-note"


def kpi(name: str) -> str:
    """Id of one KPI card's value, e.g. kpi-total."""
    return f"kpi-{name}"
