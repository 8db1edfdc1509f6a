"""Component ids, app-wide. Dash needs every id unique across pages, so they all live here."""

# Shell
USER_BADGE = "user-badge"
PAGE_OUTAGE = "page-outage"  # made by assets/session.js, outside Dash's layout: no callback writes to it

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
OV_MAP_PARAMS = "overview-map-params"  # the filter and data version the map's requests are for


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
AG_OVERDUE_TITLE = "agency-overdue-title"
AG_DUE_SOON_TITLE = "agency-due-soon-title"
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
WALL_MAP = "wall-map"
WALL_MAP_POINTS = "wall-map-points"
WALL_MAP_BASE = "wall-map-base"  # the map's request without the zoom, which the browser adds
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

# Work: queue, report detail, agency workspace
QU_REFRESH = "queue-refresh"
QU_TABLE = "queue-table"
QU_TITLE = "queue-title"
QU_PANEL = "queue-panel"
QU_OVERDUE = "queue-overdue"
QU_DUE_SOON = "queue-due-soon"
QU_OVERDUE_TITLE = "queue-overdue-title"
QU_DUE_SOON_TITLE = "queue-due-soon-title"
QU_SEARCH = "queue-search"
QU_SEARCH_GO = "queue-search-go"
QU_SEARCH_NOTE = "queue-search-note"
QU_SEARCH_TABLE = "queue-search-table"
RP_CODE = "report-code"
RP_BODY = "report-body"
AG_WORK = "agency-work"
AG_WORK_TABLE = "agency-work-table"
AG_WORK_TITLE = "agency-work-title"


def act(kind: str, page: str) -> dict:
    """A control of the report action panel. One set of pattern-matching callbacks serves the panel on
    every page that shows it (the queue and the report page), told apart by `page`."""
    return {"type": f"act-{kind}", "page": page}


# Administration
USR_TABLE = "users-table"
USR_MESSAGE = "users-message"
USR_USERNAME = "users-username"
USR_FULL_NAME = "users-full-name"
USR_ROLE = "users-role"
USR_AGENCY = "users-agency"
USR_PASSWORD = "users-password"
USR_CREATE = "users-create"
USR_SAVE_ROLE = "users-save-role"
USR_DISABLE = "users-disable"
USR_ENABLE = "users-enable"
USR_RESET = "users-reset"
CAT_MESSAGE = "catalog-message"
CAT_AGENCIES = "catalog-agencies"
CAT_AG_CODE = "catalog-agency-code"
CAT_AG_NAME = "catalog-agency-name"
CAT_AG_SHORT = "catalog-agency-short"
CAT_AG_KIND = "catalog-agency-kind"
CAT_AG_COMMUNE = "catalog-agency-commune"
CAT_AG_ACTIVE = "catalog-agency-active"
CAT_AG_SAVE = "catalog-agency-save"
CAT_CATEGORIES = "catalog-categories"
CAT_CA_CODE = "catalog-category-code"
CAT_CA_NAME = "catalog-category-name"
CAT_CA_SHORT = "catalog-category-short"
CAT_CA_COLOR = "catalog-category-color"
CAT_CA_SAVE = "catalog-category-save"
CAT_ROUTING = "catalog-routing"
CAT_RT_CATEGORY = "catalog-routing-category"
CAT_RT_COMMUNE = "catalog-routing-commune"
CAT_RT_AGENCY = "catalog-routing-agency"
CAT_RT_SAVE = "catalog-routing-save"
CAT_SETTINGS_PHONE = "catalog-settings-phone"
CAT_SETTINGS_RADIUS = "catalog-settings-radius"
CAT_SETTINGS_DAYS = "catalog-settings-days"
CAT_SETTINGS_SAVE = "catalog-settings-save"
AUD_DATES = "audit-dates"
AUD_USER = "audit-user"
AUD_ACTION = "audit-action"
AUD_TARGET = "audit-target"
AUD_TABLE = "audit-table"
AUD_NOTE = "audit-note"
