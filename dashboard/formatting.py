"""Numbers and dates the Vietnamese way: 12.345 and 87,5 %, dd/mm/yyyy, local time."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from dashboard import text
from queries.config import settings
from queries.filters import LOCAL_TZ, utc_to_local


def _missing(value) -> bool:
    """None, NaN of any float type, pd.NA and NaT."""
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # arrays and other non-scalars are not "missing"
        return False


def fmt_int(value) -> str:
    if _missing(value):
        return "—"
    return f"{round(float(value)):,}".replace(",", ".")


def fmt_decimal(value, places: int = 1) -> str:
    if _missing(value):
        return "—"
    whole, _, frac = f"{float(value):,.{places}f}".partition(".")
    whole = whole.replace(",", ".")
    return f"{whole},{frac}" if places else whole


def fmt_number(value) -> str:
    """As few decimals as the value needs: 2, 0,5, 1,25."""
    if _missing(value):
        return "—"
    return f"{float(value):g}".replace(".", ",")


def fmt_pct(share, places: int = 1) -> str:
    """A share in [0, 1] as '87,5 %'."""
    if _missing(share):
        return "—"
    return f"{fmt_decimal(share * 100, places)} %"


def fmt_date(d: date | datetime | None) -> str:
    return "" if _missing(d) else d.strftime("%d/%m/%Y")


def fmt_local_datetime(ts_utc: datetime | None) -> str:
    """A naive-UTC timestamp as local 'HH:MM dd/mm/yyyy'."""
    return "" if _missing(ts_utc) else utc_to_local(ts_utc).strftime("%H:%M %d/%m/%Y")


def now_local_text() -> str:
    return datetime.now(LOCAL_TZ).strftime("%H:%M %d/%m/%Y")


def query_timeout_text() -> str:
    """What a user reads when a query ran past QUERY_TIMEOUT_SECONDS and was stopped."""
    return text.QUERY_TIMEOUT.format(seconds=int(settings().query_timeout_seconds))
