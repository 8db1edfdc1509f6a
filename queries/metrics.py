"""The KPI registry: every figure the dashboard, the JSON API, the wall and the docs show is declared here once,
with its Vietnamese label and explanation, its per-report rule, its aggregation and the date it counts by.

One compiler turns a declaration into SQL over any table with the report's columns (`reports`, the analytics
copy's `reports` and `open_reports`) or over the copy's counted tables (`daily_counts`, `monthly_counts`),
and rates and means are derived from those counts in one place (`derive`). Modules that show figures keep
only what is theirs: which metrics, which grouping, which period. `docs/metrics.md` and the pages' "ⓘ Cách
tính" panels are written from these declarations (`markdown_table`, `explanations`).

Adding a KPI: declare it below, then add an oracle test (pandas over the raw rows) in tests/test_metrics.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import and_, case, func
from sqlalchemy.sql.expression import ColumnElement

from queries.config import ROOT, settings
from queries.localtime import local_to_utc, local_today, utc_now
from queries.schema import OPEN_STATUSES
from queries.workcalendar import WorkCalendar, default_calendar

KINDS = ("count", "sum", "rate", "mean", "median", "p90", "difference", "score")
COUNTS_BY = ("received", "resolved")
# Where a count is taken: the reports (any table with their columns), the open reports only (a count that
# depends on the clock), or the hand-off events (forwardings and returns).
SOURCES = ("reports", "open", "handoffs")


class UnknownMetric(KeyError):
    """A metric name that is not declared: raised where a module asks for it, as it loads."""

    def __str__(self) -> str:
        return f"không có chỉ số '{self.args[0]}' trong queries/metrics.py (có: {', '.join(sorted(REGISTRY))})"


@dataclass(frozen=True)
class Clock:
    """What 'now' means for the counts that depend on it (naive UTC instants): now, the end of the local day,
    the due-soon horizon (DUE_SOON_WORKING_DAYS working days ahead) and the bounds of the overdue-age bands."""

    now: datetime
    end_of_today: datetime
    due_soon: datetime
    # A late report due at or after these instants (local midnights) is overdue by at most 5 / 10 working days.
    late_5_from: datetime
    late_10_from: datetime

    @classmethod
    def at(cls, now: datetime | None = None, calendar: WorkCalendar | None = None) -> Clock:
        now = now or utc_now()
        calendar = calendar or default_calendar()
        today = local_today(now)
        index = int((np.datetime64(today) - np.datetime64(calendar.first_day)).astype(int))
        through = np.cumsum(calendar.working.astype(np.int64))  # working days through each day

        def first_day_through(n: int) -> datetime:
            """Local midnight of the first day through which n working days have passed."""
            first = int(np.searchsorted(through, n, side="left"))
            return local_to_utc(calendar.first_day + timedelta(days=first))

        return cls(now=now, end_of_today=local_to_utc(today + timedelta(days=1)),
                   due_soon=calendar.deadline(now, days=settings().due_soon_working_days),
                   late_5_from=first_day_through(through[index] - 5),
                   late_10_from=first_day_through(through[index] - 10))


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # Vietnamese, as on a card or a column head
    explanation: str  # Vietnamese, one sentence: the "Cách tính" line and docs/metrics.md
    kind: str  # one of KINDS
    counts_by: str = "received"  # the date that puts a report in a period
    source: str = "reports"
    # count: the reports that count, rule(columns, clock) (None: every report); sum: the value summed.
    rule: Callable | None = None
    # count by status: on the copy's counted tables, the counts of reports in these statuses.
    statuses: tuple[str, ...] | None = None
    # rate, mean, difference: the metrics it is derived from (a rate's numerator may add several).
    numerator: tuple[str, ...] = ()
    denominator: str | None = None
    minus: tuple[str, ...] = ()
    # median, p90: the per-report value (a column of `reports`), in `unit`.
    value: str | None = None
    unit: str = "phản ánh"
    higher_is_better: bool | None = None
    # The column of the copy's counted tables that holds this count (None: not held there).
    copy_column: str | None = field(default=None)

    @property
    def clock(self) -> bool:
        return self.source == "open"


def _open(c):
    return c.status.in_(OPEN_STATUSES)


def late(c, now: datetime):
    """An open report past its deadline at `now`: the overdue rule, also for the lists of overdue reports."""
    return and_(_open(c), c.deadline_at < now)


def _late(c, clock: Clock):
    return late(c, clock.now)


def _due(c, clock: Clock):
    return and_(_open(c), c.deadline_at >= clock.now)


DECLARATIONS = [
    # --- counts of reports, by the day they were received
    Metric("received", "Tiếp nhận", "Số phản ánh tiếp nhận trong kỳ (theo ngày tiếp nhận), mọi trạng thái.",
           "count", copy_column="total"),
    Metric("resolved", "Đã giải quyết", "Số phản ánh tiếp nhận trong kỳ đã ở trạng thái đã giải quyết.", "count",
           rule=lambda c, clock: c.status == "resolved", statuses=("resolved",), higher_is_better=True),
    Metric("pending", "Đang xử lý", "Số phản ánh tiếp nhận trong kỳ còn mở: mới tiếp nhận, đã phân loại, đã "
           "chuyển hoặc đơn vị đang xử lý.", "count", rule=lambda c, clock: _open(c), statuses=OPEN_STATUSES),
    Metric("rejected", "Từ chối", "Số phản ánh tiếp nhận trong kỳ bị từ chối (không hợp lệ, trùng).", "count",
           rule=lambda c, clock: c.status == "rejected", statuses=("rejected",)),
    # --- counts that depend on the clock (read from the open reports)
    Metric("overdue", "Quá hạn", "Số phản ánh đang xử lý đã qua hạn của giai đoạn hiện tại, tính đến lúc xem.",
           "count", source="open", rule=_late, higher_is_better=False),
    Metric("open_no_sla", "Không có SLA", "Số phản ánh đang xử lý không có hạn giải quyết.", "count", source="open",
           rule=lambda c, clock: and_(_open(c), c.deadline_at.is_(None))),
    Metric("due_today", "Đến hạn hôm nay", "Số phản ánh đang xử lý, chưa quá hạn, có hạn trước cuối ngày hôm nay.",
           "count", source="open", rule=lambda c, clock: and_(_due(c, clock), c.deadline_at < clock.end_of_today)),
    Metric("due_soon", "Sắp đến hạn ({days} ngày LV)", "Số phản ánh đang xử lý, chưa quá hạn, có hạn trong "
           "{days} ngày làm việc tới (cùng ngưỡng với danh sách 'Sắp đến hạn').", "count", source="open",
           rule=lambda c, clock: and_(_due(c, clock), c.deadline_at <= clock.due_soon)),
    Metric("overdue_1_5", "Quá hạn 1–5 ngày LV", "Số phản ánh quá hạn từ 1 đến 5 ngày làm việc (số ngày làm việc "
           "sau ngày đến hạn, tính cả hôm nay).", "count", source="open",
           rule=lambda c, clock: and_(_late(c, clock), c.deadline_at >= clock.late_5_from)),
    Metric("overdue_6_10", "Quá hạn 6–10 ngày LV", "Số phản ánh quá hạn từ 6 đến 10 ngày làm việc.", "count",
           source="open", rule=lambda c, clock: and_(_late(c, clock), c.deadline_at < clock.late_5_from,
                                                    c.deadline_at >= clock.late_10_from)),
    Metric("overdue_over_10", "Quá hạn trên 10 ngày LV", "Số phản ánh quá hạn hơn 10 ngày làm việc.", "count",
           source="open", rule=lambda c, clock: and_(_late(c, clock), c.deadline_at < clock.late_10_from)),
    Metric("not_yet_due", "Chưa đến hạn", "Đang xử lý, trừ quá hạn và không có SLA.", "difference",
           numerator=("pending",), minus=("overdue", "open_no_sla")),
    # --- the two SLA stages
    Metric("ioc_judged", "Đã chuyển, có hạn IOC", "Số phản ánh đã chuyển đơn vị và có hạn của giai đoạn IOC.",
           "count", rule=lambda c, clock: and_(c.first_forwarded_at.isnot(None), c.ioc_deadline_at.isnot(None)),
           copy_column="ioc_judged"),
    Metric("ioc_on_time", "Số chuyển đúng hạn (IOC)", "Số phản ánh được chuyển đơn vị lần đầu trước hoặc đúng hạn "
           "của giai đoạn IOC.", "count", rule=lambda c, clock: c.first_forwarded_at <= c.ioc_deadline_at,
           copy_column="ioc_on_time"),
    Metric("ioc_on_time_rate", "IOC chuyển đúng hạn", "Trong các phản ánh đã chuyển có hạn IOC, tỷ lệ được "
           "chuyển đơn vị lần đầu trước hoặc đúng hạn (giai đoạn IOC: tiếp nhận → chuyển).", "rate",
           numerator=("ioc_on_time",), denominator="ioc_judged", unit="%", higher_is_better=True),
    Metric("agency_judged", "Đã giải quyết, có hạn đơn vị", "Số phản ánh đã giải quyết có hạn của giai đoạn đơn "
           "vị.", "count", rule=lambda c, clock: and_(c.status == "resolved", c.agency_deadline_at.isnot(None)),
           copy_column="agency_judged"),
    Metric("agency_on_time", "Số giải quyết đúng hạn (đơn vị)", "Số phản ánh đã giải quyết trước hoặc đúng hạn "
           "của giai đoạn đơn vị.", "count",
           rule=lambda c, clock: and_(c.status == "resolved", c.resolved_at <= c.agency_deadline_at),
           copy_column="agency_on_time"),
    Metric("agency_on_time_rate", "Đơn vị giải quyết đúng hạn", "Trong các phản ánh đã giải quyết có hạn của "
           "giai đoạn đơn vị (chuyển → giải quyết), tỷ lệ giải quyết trước hoặc đúng hạn; là tỷ lệ dùng để xếp "
           "hạng đơn vị. Phản ánh không có hạn không bao giờ tính là đúng hạn.", "rate",
           numerator=("agency_on_time",), denominator="agency_judged", unit="%", higher_is_better=True),
    Metric("resolved_no_sla", "Đã giải quyết, không có SLA", "Số phản ánh đã giải quyết không có hạn giai đoạn "
           "đơn vị.", "count", rule=lambda c, clock: and_(c.status == "resolved", c.agency_deadline_at.is_(None)),
           copy_column="resolved_no_sla"),
    Metric("ioc_median_days", "Trung vị giai đoạn IOC", "Số ngày làm việc từ tiếp nhận đến chuyển đơn vị lần đầu, "
           "ở giữa dãy số (nội suy tuyến tính).", "median", value="ioc_work_days", unit="ngày LV",
           higher_is_better=False),
    Metric("ioc_p90_days", "P90 giai đoạn IOC", "Số ngày làm việc từ tiếp nhận đến chuyển đơn vị lần đầu mà 90 % "
           "phản ánh không vượt quá.", "p90", value="ioc_work_days", unit="ngày LV", higher_is_better=False),
    Metric("agency_median_days", "Trung vị thời gian xử lý", "Số ngày làm việc từ khi chuyển (lần gần nhất) đến "
           "khi giải quyết, ở giữa dãy số (nội suy tuyến tính).", "median", value="agency_work_days",
           unit="ngày LV", higher_is_better=False),
    Metric("agency_p90_days", "P90 thời gian xử lý", "Số ngày làm việc từ khi chuyển đến khi giải quyết mà 90 % "
           "phản ánh không vượt quá.", "p90", value="agency_work_days", unit="ngày LV", higher_is_better=False),
    # --- hand-offs
    Metric("forwardings", "Lượt chuyển", "Số lần phản ánh được chuyển đến đơn vị.", "count", source="handoffs",
           rule=lambda e, clock: e.to_status == "forwarded", copy_column="forwardings"),
    Metric("bounce_backs", "Lượt trả lại", "Số lần đơn vị trả phản ánh về IOC (không thuộc thẩm quyền).", "count",
           source="handoffs", rule=lambda e, clock: and_(e.from_status.in_(("forwarded", "in_progress")),
                                                        e.to_status.in_(("received", "classified"))),
           copy_column="bounce_backs"),
    Metric("bounce_back_rate", "Tỷ lệ trả lại", "Số lần đơn vị trả phản ánh về IOC trên số lần được chuyển đến "
           "(tính cho đơn vị trả lại).", "rate", numerator=("bounce_backs",), denominator="forwardings", unit="%",
           higher_is_better=False),
    # --- satisfaction
    Metric("rating_count", "Số đánh giá", "Số phản ánh được người dân chấm điểm hài lòng (1–5).", "count",
           rule=lambda c, clock: c.rating.isnot(None), copy_column="rating_count"),
    Metric("rating_sum", "Tổng điểm đánh giá", "Tổng các điểm hài lòng.", "sum", rule=lambda c, clock: c.rating,
           copy_column="rating_sum"),
    *[Metric(f"r{k}", f"{k} sao", f"Số đánh giá {k} điểm.", "count", rule=lambda c, clock, k=k: c.rating == k,
             copy_column=f"r{k}") for k in range(1, 6)],
    Metric("satisfaction_mean", "Mức hài lòng", "Điểm hài lòng trung bình của người dân (1–5) với kết quả xử lý.",
           "mean", numerator=("rating_sum",), denominator="rating_count", unit="điểm", higher_is_better=True),
    Metric("share_low", "Tỷ lệ không hài lòng", "Tỷ lệ đánh giá 1 hoặc 2 điểm.", "rate", numerator=("r1", "r2"),
           denominator="rating_count", unit="%", higher_is_better=False),
    Metric("located", "Có vị trí", "Số phản ánh có toạ độ.", "count", rule=lambda c, clock: c.lat.isnot(None),
           copy_column="located"),
    # --- the league
    Metric("score", "Điểm tổng hợp", "Điểm 0–100 = 40 × tỷ lệ đúng hạn (đơn vị) + 30 × (hài lòng − 1)/4 + 20 × "
           "(1 − quá hạn/đang xử lý) + 10 × (1 − tỷ lệ trả lại); phần không có số liệu được bỏ qua và các trọng số "
           "còn lại quy về 100.", "score", unit="điểm", higher_is_better=True),
]
REGISTRY: dict[str, Metric] = {m.name: m for m in DECLARATIONS}


def _check(declarations: list[Metric]) -> None:
    names = [m.name for m in declarations]
    if len(names) != len(set(names)):
        raise ValueError("queries/metrics.py: một tên chỉ số được khai báo hai lần")
    labels = [m.label for m in declarations]
    if len(labels) != len(set(labels)):
        raise ValueError("queries/metrics.py: hai chỉ số khác nhau không được dùng chung một nhãn")
    for m in declarations:
        if m.kind not in KINDS or m.counts_by not in COUNTS_BY or m.source not in SOURCES:
            raise ValueError(f"queries/metrics.py: '{m.name}' khai báo sai loại, ngày tính hoặc nguồn")
        for part in (*m.numerator, *m.minus, *([m.denominator] if m.denominator else [])):
            if part not in REGISTRY:
                raise UnknownMetric(part)


_check(DECLARATIONS)


def metric(name: str) -> Metric:
    """The declaration of `name`; an unknown name is an error where it is asked for (at start-up, for the
    modules that name their metrics as they load)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownMetric(name) from None


def require(*names: str) -> tuple[str, ...]:
    """The names, each checked: a module lists the metrics it shows with this as it loads."""
    for name in names:
        metric(name)
    return names


def label(name: str) -> str:
    return metric(name).label.format(days=settings().due_soon_working_days)


def heading(name: str) -> str:
    """The label with its unit, as a table's column head: 'Đơn vị giải quyết đúng hạn (%)'."""
    m = metric(name)
    return label(name) if m.unit in ("phản ánh", "điểm") else f"{label(name)} ({m.unit})"


def explanation(name: str) -> str:
    return metric(name).explanation.format(days=settings().due_soon_working_days)


def explanations(names: Iterable[str]) -> list[str]:
    """'Label: explanation' for each metric: the lines of a page's "ⓘ Cách tính" panel."""
    return [f"{label(n)}: {explanation(n)}" for n in names]


# --- the compiler -----------------------------------------------------------------------------------------

def is_counted_table(source) -> bool:
    """Whether `source` is one of the copy's counted tables (counts per local `day` and group: daily_counts,
    monthly_counts, handoff_counts) rather than a table of reports or events."""
    return "day" in source.c


def sql(name: str, source, clock: Clock | None = None, only=None) -> ColumnElement:
    """aggregate(), labelled with the metric's name."""
    return aggregate(name, source, clock, only).label(name)


def aggregate(name: str, source, clock: Clock | None = None, only=None) -> ColumnElement:
    """The aggregate that computes count or sum `name` over `source`, over the rows that meet `only` when given
    (several periods from one scan).

    Over a table of reports (or of hand-offs, for their counts), the declaration's rule; over the copy's
    counted tables, the sum of the column that holds it (a count by status: the reports per status). A count
    that depends on the clock needs the clock, and a table of reports."""
    m = metric(name)
    if m.counts_by != "received":
        # Every period these statements serve selects reports by the day they were received.
        raise ValueError(f"'{name}' được khai báo tính theo ngày {m.counts_by}, nhưng các kỳ chọn phản ánh theo "
                         "ngày tiếp nhận")
    if m.kind not in ("count", "sum"):
        raise ValueError(f"'{name}' là chỉ số dẫn xuất ({m.kind}); hãy hỏi các thành phần của nó rồi dùng derive()")
    c = source.c
    if is_counted_table(source):
        if m.clock:
            raise ValueError(f"'{name}' phụ thuộc thời điểm xem: tính trên các phản ánh đang mở, không trên số đếm")
        if m.statuses is not None:
            return func.sum(case((_both(c.status.in_(m.statuses), only), c.total), else_=0))
        if m.copy_column is None:
            raise ValueError(f"'{name}' không có trong các bảng đếm của bản sao phân tích")
        return func.sum(c[m.copy_column] if only is None else case((only, c[m.copy_column]), else_=0))
    if m.clock and clock is None:
        raise ValueError(f"'{name}' cần thời điểm xem (Clock)")
    if m.kind == "sum":
        return func.sum(m.rule(c, clock) if only is None else case((only, m.rule(c, clock))))
    if m.rule is None and only is None:
        return func.count()
    return func.sum(case((_both(None if m.rule is None else m.rule(c, clock), only), 1), else_=0))


def _both(condition, only):
    if condition is None or only is None:
        return condition if only is None else only
    return and_(condition, only)


def condition(name: str, source, clock: Clock | None = None) -> ColumnElement:
    """The per-report (or per-event) rule of count `name` over `source`'s columns."""
    return metric(name).rule(source.c, clock)


def columns(names: Iterable[str], source, clock: Clock | None = None, only=None) -> list[ColumnElement]:
    return [sql(n, source, clock, only) for n in names]


def divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator as float64, NaN where the denominator is 0."""
    numerator = np.asarray(numerator, dtype="float64")
    denominator = np.asarray(denominator, dtype="float64")
    out = np.full(numerator.shape, np.nan)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def value(name: str, counts) -> np.ndarray:
    """Metric `name` from its components in `counts` (a mapping or frame of arrays): a count or sum as it is, a
    rate or mean divided, a difference subtracted."""
    m = metric(name)
    if m.kind in ("count", "sum"):
        return np.asarray(counts[name], dtype="float64")
    if m.kind in ("rate", "mean"):
        top = sum(value(part, counts) for part in m.numerator)
        return divide(top, value(m.denominator, counts))
    if m.kind == "difference":
        return sum(value(part, counts) for part in m.numerator) - sum(value(part, counts) for part in m.minus)
    raise ValueError(f"'{name}' ({m.kind}) không tính được từ các số đếm")


def derive(frame, names: Iterable[str]):
    """`frame` with each derived metric of `names` added as a column, computed from its components there."""
    for name in names:
        frame[name] = value(name, frame)
    return frame


# --- the docs ------------------------------------------------------------------------------------------

KIND_TEXT = {"count": "đếm", "sum": "tổng", "rate": "tỷ lệ", "mean": "trung bình", "median": "trung vị",
             "p90": "phân vị 90", "difference": "hiệu", "score": "điểm tổng hợp"}
SOURCE_TEXT = {"reports": "phản ánh", "open": "phản ánh đang mở, tại thời điểm xem", "handoffs": "lượt chuyển/trả"}


def _formula(m: Metric) -> str:
    if m.kind in ("rate", "mean"):
        return f"{' + '.join(f'`{p}`' for p in m.numerator)} ÷ `{m.denominator}`"
    if m.kind == "difference":
        return " − ".join(f"`{p}`" for p in (*m.numerator, *m.minus))
    if m.kind in ("median", "p90"):
        return f"`{m.value}`"
    if m.copy_column is not None:
        return f"bản sao: `{m.copy_column}`"
    if m.statuses is not None:
        return "bản sao: theo trạng thái"
    return "—"


DOC = ROOT / "docs" / "metrics.md"
BEGIN, END = "<!-- metrics:begin (written by `python -m queries.metrics`) -->", "<!-- metrics:end -->"


def document(current: str) -> str:
    """docs/metrics.md's text with the part between its markers written from the declarations."""
    head, rest = current.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{markdown_table()}{END}{tail}"


def markdown_table() -> str:
    """The table of every declared metric, as docs/metrics.md shows it."""
    lines = ["| metric | nhãn | cách tính | loại | tính theo ngày | trên | từ |", "|---|---|---|---|---|---|---|"]
    for m in DECLARATIONS:
        lines.append(f"| `{m.name}` | {label(m.name)} | {explanation(m.name)} | {KIND_TEXT[m.kind]} | "
                     f"{'tiếp nhận' if m.counts_by == 'received' else 'giải quyết'} | {SOURCE_TEXT[m.source]} | "
                     f"{_formula(m)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    DOC.write_text(document(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"{DOC} written from {len(DECLARATIONS)} declarations")
