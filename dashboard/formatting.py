"""Numbers and dates the Vietnamese way: 12.345 and 87,5 %, dd/mm/yyyy, local time."""

from __future__ import annotations

import math
from datetime import date, datetime

from queries.filters import LOCAL_TZ, utc_to_local


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_int(value) -> str:
    if _missing(value):
        return "—"
    return f"{int(value):,}".replace(",", ".")


def fmt_decimal(value, places: int = 1) -> str:
    if _missing(value):
        return "—"
    whole, _, frac = f"{float(value):,.{places}f}".partition(".")
    whole = whole.replace(",", ".")
    return f"{whole},{frac}" if places else whole


def fmt_pct(share, places: int = 1) -> str:
    """A share in [0, 1] as '87,5 %'."""
    if _missing(share):
        return "—"
    return f"{fmt_decimal(share * 100, places)} %"


def fmt_date(d: date | datetime | None) -> str:
    return d.strftime("%d/%m/%Y") if d else ""


def fmt_local_datetime(ts_utc: datetime | None) -> str:
    """A naive-UTC timestamp as local 'HH:MM dd/mm/yyyy'."""
    return utc_to_local(ts_utc).strftime("%H:%M %d/%m/%Y") if ts_utc else ""


def now_local_text() -> str:
    return datetime.now(LOCAL_TZ).strftime("%H:%M %d/%m/%Y")
