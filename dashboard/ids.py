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

# Scorecard
SC_PERIOD_KIND = "scorecard-period-kind"
SC_PERIOD = "scorecard-period"
SC_CATEGORY = "scorecard-category"
SC_TABLE = "scorecard-table"
SC_TITLE = "scorecard-title"
SC_NOTE = "scorecard-note"

# Agency detail
AG_CODE = "agency-code"
AG_KPIS = "agency-kpis"
AG_ON_TIME_TREND = "agency-on-time-trend"
AG_SATISFACTION_TREND = "agency-satisfaction-trend"
AG_WORST_CATEGORIES = "agency-worst-categories"
AG_OVERDUE = "agency-overdue"
AG_DUE_SOON = "agency-due-soon"
AG_TITLE = "agency-title"

# SLA policies (admin)
SLA_TABLE = "sla-table"
SLA_CATEGORY = "sla-category"
SLA_URGENT = "sla-urgent"
SLA_IOC = "sla-ioc"
SLA_AGENCY = "sla-agency"
SLA_VALID_FROM = "sla-valid-from"
SLA_NOTE = "sla-note"
SLA_SAVE = "sla-save"
SLA_MESSAGE = "sla-message"

# Wall screen
WALL_ROOT = "wall-root"
WALL_SETTINGS = "wall-settings"
WALL_REFRESH = "wall-refresh"
WALL_ROTATE = "wall-rotate"
WALL_CLOCK_TICK = "wall-clock-tick"
WALL_CLOCK = "wall-clock"
WALL_FRESHNESS = "wall-freshness"
WALL_BANNER = "wall-banner"
WALL_VERSION = "wall-version"
WALL_LAST_OK = "wall-last-ok"
WALL_KPIS = "wall-kpis"
WALL_MAP_POINTS = "wall-map-points"
WALL_MAP_COMMUNES = "wall-map-communes"
WALL_RANK_ON_TIME = "wall-rank-on-time"
WALL_RANK_SATISFACTION = "wall-rank-satisfaction"
WALL_TREND = "wall-trend"
WALL_CATEGORIES = "wall-categories"
WALL_TICKER = "wall-ticker"
WALL_ALERTS = "wall-alerts"
WALL_DOTS = "wall-dots"


def wall_panel(name: str) -> str:
    return f"wall-panel-{name}"

# Screens (admin)
SCR_TABLE = "screens-table"
SCR_NAME = "screens-name"
SCR_ROTATE = "screens-rotate"
SCR_REFRESH = "screens-refresh"
SCR_CREATE = "screens-create"
SCR_REVOKE_NAME = "screens-revoke-name"
SCR_REVOKE = "screens-revoke"
SCR_MESSAGE = "screens-message"
SCR_URL = "screens-url"
