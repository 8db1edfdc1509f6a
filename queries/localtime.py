"""Local time. Timestamps are stored as naive UTC; days, months and clocks on screen are in the one zone of
the TIME_ZONE setting, read once at start. The zone has a fixed offset (checked by the setting), so SQL turns
UTC into local days by adding LOCAL_OFFSET."""

from __future__ import annotations

import sys
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from queries.config import ConfigError, settings


def _zone() -> ZoneInfo:
    # Read as the modules load, before any entry point checks the settings: a bad value stops the start here,
    # with the same message.
    try:
        return ZoneInfo(settings().time_zone)
    except ConfigError as err:
        print(err, file=sys.stderr)
        raise SystemExit(2) from None


LOCAL_TZ = _zone()
UTC = ZoneInfo("UTC")
LOCAL_OFFSET: timedelta = datetime(2000, 1, 1, tzinfo=LOCAL_TZ).utcoffset()
LOCAL_OFFSET_MINUTES = int(LOCAL_OFFSET.total_seconds() // 60)


def utc_now() -> datetime:
    """Naive UTC, the form timestamps are stored in."""
    return datetime.now(UTC).replace(tzinfo=None)


def local_today(now: datetime | None = None) -> date:
    """The local day of `now` (naive UTC; default: now)."""
    return (now + LOCAL_OFFSET).date() if now is not None else datetime.now(LOCAL_TZ).date()


def local_to_utc(d: date) -> datetime:
    """Local midnight starting day `d`, as naive UTC."""
    return datetime.combine(d, time.min) - LOCAL_OFFSET


def local_datetime_to_utc(ts: datetime) -> datetime:
    """A naive local datetime as naive UTC."""
    return ts.replace(tzinfo=LOCAL_TZ).astimezone(UTC).replace(tzinfo=None)


def utc_to_local(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC).astimezone(LOCAL_TZ)
