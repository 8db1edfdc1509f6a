"""Tables of reports (the queue, overdue lists, search results, an agency's work): the code links to the
report page, and the deadline shows as a working-time countdown."""

from __future__ import annotations

import pandas as pd
from dash import dash_table

from dashboard import text
from dashboard.components.charts import FONT
from dashboard.formatting import fmt_decimal, fmt_int
from queries.localtime import LOCAL_OFFSET
from queries.sql import COUNT_CAP
from queries.workcalendar import default_calendar

FILTER_OPTIONS = {"placeholder_text": "Lọc…"}
HEADER_STYLE = {"fontWeight": "700", "backgroundColor": "#eef3f8"}
CELL_STYLE = {"fontFamily": FONT, "fontSize": "13px", "padding": "5px 8px", "textAlign": "left",
              "maxWidth": "380px", "overflow": "hidden", "textOverflow": "ellipsis"}
COLUMN_NAMES = {"link": text.COL_CODE, "received": text.COL_RECEIVED, "title": text.COL_TITLE,
                "category_name": text.COL_CATEGORY, "commune_name": text.COL_COMMUNE, "channel": text.COL_CHANNEL,
                "agency_name": text.COL_AGENCY, "status_label": text.COL_STATUS, "deadline": text.COL_DEADLINE,
                "countdown": text.COL_COUNTDOWN, "flags": text.COL_FLAGS}


def countdown_text(hours_left, day_hours: float | None = None) -> str:
    """'còn 3,5 giờ LV', 'quá 2,0 ngày LV': a working day is the office day's length (`day_hours`, read from
    the calendar when not given)."""
    if hours_left is None or pd.isna(hours_left):
        return text.COUNTDOWN_NONE
    day_hours = day_hours or default_calendar().config.seconds_per_day / 3600
    size = abs(float(hours_left))
    if size >= day_hours:
        value = fmt_decimal(size / day_hours, 1)
        return (text.COUNTDOWN_LEFT_DAYS if hours_left >= 0 else text.COUNTDOWN_OVER_DAYS).format(days=value)
    value = fmt_decimal(size, 1)
    return (text.COUNTDOWN_LEFT if hours_left >= 0 else text.COUNTDOWN_OVER).format(hours=value)


def case_rows(frame: pd.DataFrame) -> list[dict]:
    """Rows for case_table from a frame of queries.cases (code, title, status, ..., work_hours_left)."""
    rows = []
    day_hours = default_calendar().config.seconds_per_day / 3600
    # Dates formatted a column at a time, and left out of to_dict: row by row, timestamps are slow to format.
    when = {col: _local_texts(frame[col]) if col in frame else [""] * len(frame)
            for col in ("created_at", "deadline_at")}
    frame = frame.drop(columns=[col for col in when if col in frame])
    for i, row in enumerate(frame.to_dict("records")):
        hours = row.get("work_hours_left")
        if hours is None and row.get("working_days_left") is not None:  # cases.open_cases counts days
            hours = row["working_days_left"] * day_hours
        flags = []
        if row.get("urgent"):
            flags.append(text.FLAG_URGENT)
        if row.get("returned"):
            flags.append(text.FLAG_RETURNED)
        rows.append({
            "code": row["code"], "link": f"[{row['code']}](/report/{row['code']})",
            "received": when["created_at"][i], "title": row.get("title") or "",
            "category_name": row.get("category_name") or "", "commune_name": row.get("commune_name") or "",
            "channel": text.CHANNEL_LABELS.get(row.get("channel"), row.get("channel") or ""),
            "agency_name": row.get("agency_name") or "", "status": row.get("status"),
            "status_label": text.STATUS_LABELS.get(row.get("status"), row.get("status") or ""),
            "deadline": when["deadline_at"][i], "countdown": countdown_text(hours, day_hours),
            "overdue": int(hours is not None and not pd.isna(hours) and hours < 0),
            "urgent": int(bool(row.get("urgent"))), "flags": ", ".join(flags),
        })
    return rows


def _local_texts(values: pd.Series) -> list[str]:
    """Naive-UTC timestamps as local 'HH:MM dd/mm/yyyy' ('' where missing), as fmt_local_datetime writes
    them."""
    local = pd.to_datetime(values) + LOCAL_OFFSET
    return local.dt.strftime("%H:%M %d/%m/%Y").fillna("").tolist()


def case_table(table_id: str, columns: list[str], page_size: int = 15, selectable: bool = False,
               export: bool = True, server_pages: bool = False) -> dash_table.DataTable:
    """`server_pages`: the server sends one page at a time (page_current in, data and page_count out), for lists
    too long to send whole; such a table sorts as the server does."""
    paging = {"page_action": "custom", "page_current": 0, "page_count": 0, "sort_action": "none"} \
        if server_pages else {"sort_action": "native"}
    return dash_table.DataTable(
        id=table_id, data=[], page_size=page_size, style_as_list_view=True, **paging,
        columns=[{"id": c, "name": COLUMN_NAMES[c], **({"presentation": "markdown"} if c == "link" else {})}
                 for c in columns],
        row_selectable="single" if selectable else False, selected_rows=[],
        export_format="csv" if export else "none", export_headers="display",
        markdown_options={"link_target": "_self"}, style_table={"overflowX": "auto"},
        style_header=HEADER_STYLE, style_cell=CELL_STYLE,
        style_data_conditional=[
            {"if": {"filter_query": "{urgent} = 1"}, "fontWeight": "700"},
            {"if": {"filter_query": "{overdue} = 1", "column_id": "countdown"}, "color": text.OVERDUE_COLOR},
        ],
    )


def one_page(frame: pd.DataFrame, total: int, page: int, page_size: int = 15) -> tuple[list[dict], int, int]:
    """A server-paged case_table's data, page_count and page_current for one page of `total` reports (a
    count capped at COUNT_CAP + 1: the pages end at the cap)."""
    pages = max(1, -(-min(total, COUNT_CAP) // page_size))
    return case_rows(frame), pages, min(max(0, page), pages - 1)


def with_count(title: str, total: int) -> str:
    """'Phản ánh quá hạn (1.234)', or '(hơn 10.000)' past the count's cap."""
    if total > COUNT_CAP:
        return f"{title} ({text.MORE_THAN.format(n=fmt_int(COUNT_CAP))})"
    return f"{title} ({fmt_int(total)})"
