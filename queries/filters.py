"""The one Filter every query takes, and its round trip to URL query parameters.

Dates are local calendar days (queries/localtime.py), both ends inclusive; the database stores UTC,
so `utc_bounds` turns them into a half-open UTC interval. `scope_agency` is the caller's scope (an
agency head sees only their agency); it is set from the logged-in user, never from the URL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from queries.localtime import (  # noqa: F401 (the filter's callers read local time here too)
    LOCAL_TZ,
    UTC,
    local_datetime_to_utc,
    local_to_utc,
    local_today,
    utc_now,
    utc_to_local,
)

LIST_FIELDS = ("categories", "agencies", "communes", "channels", "statuses")
# URL parameter name for each list field: singular, as people type them.
PARAM_NAMES = {"categories": "category", "agencies": "agency", "communes": "commune", "channels": "channel",
               "statuses": "status"}
_CODE = re.compile(r"^[\w.\-]{1,40}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Stands in for a malformed code: it can never equal a real code, so it matches nothing, and a list
# holding only malformed codes selects nothing instead of everything.
INVALID_CODE = "!invalid"
# Days a filter may name: wide enough for any history, narrow enough that a day's UTC bounds and its
# neighbours always exist (0001-01-01 minus seven hours does not).
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)


class FilterError(ValueError):
    """A filter parameter that cannot be read, with a message fit to show the user."""


@dataclass(frozen=True)
class Filter:
    start: date | None = None
    end: date | None = None
    categories: tuple[str, ...] = ()
    agencies: tuple[str, ...] = ()
    communes: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    scope_agency: str | None = field(default=None)

    def utc_bounds(self) -> tuple[datetime | None, datetime | None]:
        """Half-open [start, end) in naive UTC."""
        start = local_to_utc(self.start) if self.start else None
        end = local_to_utc(self.end + timedelta(days=1)) if self.end else None
        return start, end

    def is_empty_range(self) -> bool:
        return self.start is not None and self.end is not None and self.end < self.start

    def scoped(self, agency_code: str | None) -> Filter:
        return replace(self, scope_agency=agency_code)

    def to_params(self) -> dict[str, str]:
        params = {}
        if self.start:
            params["from"] = self.start.isoformat()
        if self.end:
            params["to"] = self.end.isoformat()
        for name in LIST_FIELDS:
            values = getattr(self, name)
            if values:
                params[PARAM_NAMES[name]] = ",".join(values)
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, str | Iterable[str]]) -> Filter:
        """Read `from`, `to` and the list parameters. Unknown codes pass through (they match nothing);
        a malformed date raises FilterError."""
        kwargs = {"start": parse_date(params.get("from"), "from"), "end": parse_date(params.get("to"), "to")}
        for name in LIST_FIELDS:
            kwargs[name] = _parse_list(params.get(PARAM_NAMES[name]))
        return cls(**kwargs)


def parse_date(value, name: str) -> date | None:
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        if not _ISO_DATE.match(text):
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        raise FilterError(f"Tham số '{name}' phải là ngày dạng YYYY-MM-DD, nhận được '{str(value)[:40]}'.") from None
    return within_range(day, name)


def within_range(day: date, name: str) -> date:
    """The day, or a FilterError when it lies outside FIRST_DAY–LAST_DAY."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise FilterError(f"Tham số '{name}' phải là ngày trong khoảng {FIRST_DAY:%d/%m/%Y}–{LAST_DAY:%d/%m/%Y}, "
                          f"nhận được '{day.isoformat()}'.")
    return day


def _parse_list(value) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    items = [value] if isinstance(value, str) else list(value)
    codes = []
    for item in items:
        for code in str(item).split(","):
            code = code.strip()
            if code and not _CODE.match(code):
                code = INVALID_CODE
            if code and code not in codes:
                codes.append(code)
    return tuple(codes)
