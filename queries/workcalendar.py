"""Vietnamese working time: office hours on working days, without weekends, public holidays and Tết,
with make-up Saturdays and extra days off from config/sla.yaml.

Everything rests on one monotone clock, W(t): the working seconds from the calendar's first day to the
instant t. A limit of N working days is N × (office seconds per day) of working time, counted from the
moment a report arrives (from the next opening, when it arrives outside office hours); the deadline is the
earliest instant at which that much working time has passed. A duration in working days is
(W(end) - W(start)) / office seconds per day. Both are vectorised with numpy, so that a whole column of
reports costs little.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path

import holidays
import numpy as np
import yaml
from sqlalchemy import delete, insert, select

from queries.db import Database, get_db
from queries.localtime import LOCAL_OFFSET_MINUTES
from queries.schema import app_settings, work_calendar

ROOT = Path(__file__).resolve().parent.parent
CONFIG_PATH = ROOT / "config" / "sla.yaml"
FIRST_YEAR, LAST_YEAR = 2000, 2045
LOCAL_OFFSET = np.timedelta64(LOCAL_OFFSET_MINUTES, "m")


class CalendarError(ValueError):
    pass


@dataclass(frozen=True)
class CalendarConfig:
    office_hours: tuple[tuple[int, int], ...]  # (start, end) in seconds after local midnight
    makeup_working_days: frozenset[date]
    extra_days_off: frozenset[date]

    @property
    def seconds_per_day(self) -> int:
        return sum(end - start for start, end in self.office_hours)


def _seconds(hhmm: str) -> int:
    try:
        t = time.fromisoformat(hhmm)
    except ValueError:
        raise CalendarError(f"giờ làm việc '{hhmm}' phải có dạng HH:MM") from None
    return t.hour * 3600 + t.minute * 60


def parse_calendar(raw: dict) -> CalendarConfig:
    intervals = tuple((_seconds(a), _seconds(b)) for a, b in raw.get("office_hours") or [])
    if not intervals or any(b <= a for a, b in intervals) or any(
            intervals[i][1] > intervals[i + 1][0] for i in range(len(intervals) - 1)):
        raise CalendarError("office_hours phải là các khoảng [bắt đầu, kết thúc] tăng dần, không chồng nhau")
    try:
        makeup = frozenset(date.fromisoformat(str(d)) for d in raw.get("makeup_working_days") or [])
        extra = frozenset(date.fromisoformat(str(d)) for d in raw.get("extra_days_off") or [])
    except ValueError as err:
        raise CalendarError(f"ngày trong lịch làm việc phải có dạng YYYY-MM-DD: {err}") from None
    return CalendarConfig(intervals, makeup, extra)


def load_config(path: Path = CONFIG_PATH) -> dict:
    """The parsed file, re-read only when it changed: callbacks ask for it on every refresh."""
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _config_cache.get(str(path))
    if cached is None or cached[0] != stamp:
        cached = _config_cache[str(path)] = (stamp, yaml.safe_load(path.read_text(encoding="utf-8")))
    return copy.deepcopy(cached[1])


_config_cache: dict[str, tuple] = {}


class WorkCalendar:
    def __init__(self, config: CalendarConfig):
        self.config = config
        self.first_day = date(FIRST_YEAR, 1, 1)
        days = np.arange(np.datetime64(self.first_day), np.datetime64(date(LAST_YEAR + 1, 1, 1)))
        self.days = days
        public = holidays.country_holidays("VN", years=range(FIRST_YEAR, LAST_YEAR + 1))
        off = {np.datetime64(d) for d in public} | {np.datetime64(d) for d in config.extra_days_off}
        weekday = (days.astype(int) + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
        working = (weekday < 5) & ~np.isin(days, np.array(sorted(off), dtype="datetime64[D]"))
        makeup = np.array(sorted(config.makeup_working_days), dtype="datetime64[D]")
        working |= np.isin(days, makeup)
        self.working = working
        per_day = np.where(working, config.seconds_per_day, 0).astype(np.int64)
        self.cum_start = np.concatenate([[0], np.cumsum(per_day)[:-1]])  # W at each day's local midnight
        self.cum_end = self.cum_start + per_day
        starts = np.array([a for a, _ in config.office_hours], dtype=np.int64)
        ends = np.array([b for _, b in config.office_hours], dtype=np.int64)
        self._starts, self._ends = starts, ends
        self._before = np.concatenate([[0], np.cumsum(ends - starts)[:-1]])  # work done before each interval

    # --- the clock ------------------------------------------------------------------------------
    def _split(self, utc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        local = utc.astype("datetime64[s]") + LOCAL_OFFSET
        day = local.astype("datetime64[D]")
        index = (day - np.datetime64(self.first_day)).astype(np.int64)
        if index.size and (index.min() < 0 or index.max() >= len(self.days)):
            raise CalendarError(f"thời điểm ngoài lịch {FIRST_YEAR}–{LAST_YEAR}")
        seconds = (local - day.astype("datetime64[s]")).astype(np.int64)
        return index, seconds

    def work_seconds(self, utc) -> np.ndarray:
        """W(t) for naive-UTC datetime64 values (NaT gives -1)."""
        utc = np.asarray(utc, dtype="datetime64[s]")
        missing = np.isnat(utc)
        safe = np.where(missing, np.datetime64(f"{FIRST_YEAR + 1}-01-01T00:00:00"), utc)
        index, seconds = self._split(safe)
        within = np.clip(seconds[..., None] - self._starts, 0, self._ends - self._starts).sum(axis=-1)
        w = self.cum_start[index] + np.where(self.working[index], within, 0)
        return np.where(missing, -1, w)

    def at_work_seconds(self, w) -> np.ndarray:
        """The earliest naive-UTC instant t with W(t) >= w."""
        w = np.asarray(w, dtype=np.int64)
        index = np.searchsorted(self.cum_end, w, side="left")
        if index.size and index.max() >= len(self.days):
            raise CalendarError(f"hạn xử lý vượt quá lịch {FIRST_YEAR}–{LAST_YEAR}")
        rest = w - self.cum_start[index]
        # The office interval holding the rest: the last one whose preceding work is below it.
        k = np.clip(np.searchsorted(self._before, rest, side="left") - 1, 0, len(self._starts) - 1)
        seconds = self._starts[k] + (rest - self._before[k])
        local = self.days[index].astype("datetime64[s]") + seconds.astype("timedelta64[s]")
        return local - LOCAL_OFFSET

    # --- what callers use -----------------------------------------------------------------------
    def add(self, start_utc, days=0.0, hours=0.0) -> np.ndarray:
        """Deadline after `days` working days or `hours` working hours from `start_utc` (arrays broadcast)."""
        span = np.round(np.asarray(days, dtype=float) * self.config.seconds_per_day
                        + np.asarray(hours, dtype=float) * 3600).astype(np.int64)
        if np.any(span < 0):
            raise CalendarError("thời hạn không được âm")
        start = self.work_seconds(start_utc)
        due = self.at_work_seconds(np.maximum(start, 0) + span)
        # A zero limit outside office hours would otherwise land on the last closing time before arrival.
        return np.maximum(np.asarray(start_utc, dtype="datetime64[s]"), due)

    def working_days_between(self, start_utc, end_utc) -> np.ndarray:
        """(W(end) - W(start)) in working days; NaN where either end is missing."""
        a, b = self.work_seconds(start_utc), self.work_seconds(end_utc)
        return np.where((a < 0) | (b < 0), np.nan, (b - a) / self.config.seconds_per_day)

    def deadline(self, start: datetime, days: float = 0.0, hours: float = 0.0) -> datetime:
        """One deadline, naive UTC in and out."""
        return self.add(np.datetime64(start, "s"), days, hours).astype("datetime64[s]").item()

    def is_working_day(self, d: date) -> bool:
        return bool(self.working[(np.datetime64(d) - np.datetime64(self.first_day)).astype(int)])

    def working_day_index(self, days: np.ndarray) -> np.ndarray:
        """How many working days precede each local date: differences count working days between dates."""
        index = (np.asarray(days, dtype="datetime64[D]") - np.datetime64(self.first_day)).astype(np.int64)
        return (self.cum_start[index] // max(self.config.seconds_per_day, 1)).astype(np.int64)

    def add_working_days_to_date(self, d: date, n: int) -> date:
        """The local date n working days after d (n >= 1), for 'due within n working days'."""
        index = (np.datetime64(d) - np.datetime64(self.first_day)).astype(int)
        later = np.flatnonzero(self.working[index + 1:])
        return (self.days[index + 1 + later[n - 1]]).astype(date)


@lru_cache(maxsize=4)
def calendar_from(path: str = str(CONFIG_PATH)) -> WorkCalendar:
    return WorkCalendar(parse_calendar(load_config(Path(path)).get("calendar") or {}))


def default_calendar() -> WorkCalendar:
    return calendar_from(str(CONFIG_PATH))


__all__ = ["CalendarError", "WorkCalendar", "default_calendar", "parse_calendar"]


# --- the calendar in SQL ------------------------------------------------------------------------------

def sync_work_calendar(db: Database | None = None, calendar: WorkCalendar | None = None) -> None:
    """Write the working-day table when the calendar configuration changed (or was never written)."""
    db = get_db(db)
    calendar = calendar or default_calendar()
    digest = hashlib.sha1(json.dumps([sorted(map(str, calendar.config.makeup_working_days)),
                                      sorted(map(str, calendar.config.extra_days_off)),
                                      calendar.config.office_hours, len(calendar.days)]).encode()).hexdigest()
    stored = db.scalar(select(app_settings.c.value).where(app_settings.c.key == "work_calendar_digest"))
    if stored == digest:
        return
    through = np.cumsum(calendar.working.astype(np.int64))
    rows = [{"day": str(d), "working": int(w), "working_days_through": int(t)}
            for d, w, t in zip(calendar.days.astype(str), calendar.working, through, strict=True)]
    with db.begin() as conn:
        conn.execute(delete(work_calendar))
        conn.execute(insert(work_calendar), rows)
        conn.execute(delete(app_settings).where(app_settings.c.key == "work_calendar_digest"))
        conn.execute(insert(app_settings).values(key="work_calendar_digest", value=digest))
