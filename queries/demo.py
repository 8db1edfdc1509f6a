"""The demo province: 38 agencies and a deterministic, realistic history of field reports.

Realism, and where each part comes from:
- communes: counts skewed like population, using the number of pre-2025 communes merged into each
  new one as the size proxy, with urban wards (phường) weighted up;
- season: September to November (storms and floods in central Vietnam) raise volume, and raise the
  share of sanitation, traffic and urban-infrastructure reports;
- volume grows over time (+35 % across the period); weekends run at 65 % of weekdays; reports come
  in during the day;
- routing: the agency follows from the category and the commune (see ROUTES);
- handling: IOC classification and forwarding take hours; agency handling is log-normal (long tail)
  around a share of the category's handling time, scaled by each agency's efficiency; about 1.5 %
  stall for weeks and 0.8 % are never closed, so some reports are overdue;
- some reports are rejected at the IOC; some are returned by the agency ("not our competence") and
  forwarded again;
- ratings (about 40 % of resolved reports) are worse when the report was resolved late;
- the app is the largest channel.

Generation is vectorised with numpy, so that even a large history builds quickly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from sqlalchemy import delete, func, insert, select

from queries import demo_media
from queries.cases import phone_tail
from queries.db import Database, get_db
from queries.deadlines import stage_times
from queries.filters import UTC, local_to_utc, local_today
from queries.localtime import LOCAL_OFFSET_MINUTES
from queries.reference import CATEGORIES, read_communes
from queries.schema import agencies, categories, media, report_events, reports, routing_rules
from queries.users import create_user, generate_password
from queries.workcalendar import load_config

DEFAULT_REPORTS = 20_000
DEFAULT_MONTHS = 24
BATCH = 20_000


@dataclass(frozen=True)
class DemoAgency:
    code: str
    name: str
    short_name: str
    kind: str
    efficiency: float  # multiplies handling time: < 1 fast, > 1 slow


DEPARTMENTS = (
    DemoAgency("SXD", "Sở Xây dựng", "Sở Xây dựng", "department", 1.05),
    DemoAgency("SNNMT", "Sở Nông nghiệp và Môi trường", "Sở NN&MT", "department", 0.95),
    DemoAgency("SYT", "Sở Y tế", "Sở Y tế", "department", 0.8),
    DemoAgency("SGDDT", "Sở Giáo dục và Đào tạo", "Sở GD&ĐT", "department", 0.85),
    DemoAgency("SNV", "Sở Nội vụ", "Sở Nội vụ", "department", 0.9),
    DemoAgency("STC", "Sở Tài chính", "Sở Tài chính", "department", 1.0),
    DemoAgency("SCT", "Sở Công Thương", "Sở Công Thương", "department", 1.1),
    DemoAgency("SVHTTDL", "Sở Văn hóa, Thể thao và Du lịch", "Sở VH-TT&DL", "department", 0.9),
    DemoAgency("SKHCN", "Sở Khoa học và Công nghệ", "Sở KH&CN", "department", 0.75),
    DemoAgency("STP", "Sở Tư pháp", "Sở Tư pháp", "department", 0.85),
    DemoAgency("TTT", "Thanh tra tỉnh", "Thanh tra tỉnh", "department", 1.2),
    DemoAgency("BQLKKT", "Ban Quản lý Khu kinh tế tỉnh", "BQL Khu kinh tế", "department", 1.15),
    DemoAgency("BHXH", "Bảo hiểm xã hội tỉnh Quảng Trị", "BHXH tỉnh", "department", 0.9),
    DemoAgency("CAT", "Công an tỉnh Quảng Trị", "Công an tỉnh", "police", 0.6),
    DemoAgency("DLQT", "Công ty Điện lực Quảng Trị", "Điện lực Quảng Trị", "utility", 0.55),
    DemoAgency("CNQT", "Công ty Cổ phần Nước sạch Quảng Trị", "Nước sạch Quảng Trị", "utility", 0.9),
    DemoAgency("CTNQB", "Công ty Cổ phần Cấp thoát nước Quảng Bình", "Cấp thoát nước QB", "utility", 1.0),
    DemoAgency("MTDT", "Công ty Cổ phần Môi trường và Công trình đô thị Quảng Trị", "Môi trường đô thị",
               "utility", 0.8),
    DemoAgency("VNPT", "Viễn thông Quảng Trị (VNPT)", "VNPT Quảng Trị", "utility", 0.7),
)
COMMUNE_AGENCIES = 38 - len(DEPARTMENTS)  # the largest communes' people's committees take part

# Category -> [(target, weight)]. "COMMUNE" means the commune's own people's committee when it takes
# part, else the category's fallback department; "WATER" is the water company of the old province.
ROUTES = {
    "XD": [("COMMUNE", 0.75), ("SXD", 0.25)],
    "MT": [("COMMUNE", 0.55), ("MTDT", 0.3), ("SNNMT", 0.15)],
    "GT": [("SXD", 0.7), ("COMMUNE", 0.3)],
    "DT": [("DLQT", 0.35), ("WATER", 0.3), ("MTDT", 0.15), ("COMMUNE", 0.2)],
    "AN": [("CAT", 0.85), ("COMMUNE", 0.15)],
    "DV": [("SYT", 0.3), ("SGDDT", 0.2), ("BHXH", 0.2), ("VNPT", 0.15), ("SNV", 0.15)],
    "HC": [("COMMUNE", 0.45), ("SNV", 0.3), ("TTT", 0.15), ("STP", 0.1)],
    "KHAC": [("COMMUNE", 0.3), ("SCT", 0.2), ("STC", 0.15), ("SVHTTDL", 0.15), ("SKHCN", 0.1),
             ("BQLKKT", 0.1)],
}
FALLBACK = {"XD": "SXD", "MT": "SNNMT", "GT": "SXD", "DT": "SXD", "AN": "CAT", "HC": "SNV", "KHAC": "SCT"}

CATEGORY_SHARE = {"XD": 0.14, "MT": 0.22, "GT": 0.17, "DT": 0.15, "AN": 0.09, "DV": 0.09, "HC": 0.06,
                  "KHAC": 0.08}
STORM_BOOST = {"MT": 1.9, "GT": 1.8, "DT": 1.7}
URGENT_SHARE = {"AN": 0.15, "GT": 0.06, "DT": 0.06, "MT": 0.03}
CHANNEL_NAMES = {"app": "ứng dụng di động", "portal": "cổng thông tin", "fanpage": "fanpage Facebook",
                 "hotline": "tổng đài AI"}
CHANNEL_SHARE = {"app": 0.47, "portal": 0.21, "fanpage": 0.17, "hotline": 0.15}
PHOTO_SHARE = {"app": 0.7, "portal": 0.4, "fanpage": 0.5, "hotline": 0.0}
PHONE_SHARE = {"app": 1.0, "portal": 0.8, "fanpage": 0.35, "hotline": 1.0}
MOBILE_PREFIXES = ("032", "033", "034", "035", "036", "037", "038", "039", "086", "096", "097", "098",
                   "081", "082", "083", "084", "085", "088", "091", "094", "070", "076", "077", "078",
                   "079", "089", "090", "093")
REJECT_REASONS = ("Nội dung không thuộc phạm vi phản ánh hiện trường", "Phản ánh trùng với phản ánh đã tiếp nhận",
                  "Thông tin không đủ để xác minh", "Nội dung không đúng sự thật")
OPERATORS = ("Nguyễn Thị Hoa", "Trần Văn Minh", "Lê Thị Thu", "Phạm Quốc Bảo", "Hoàng Thị Lan")

PLACES = ("đường Hùng Vương", "đường Lê Duẩn", "đường Trần Hưng Đạo", "đường Nguyễn Huệ", "Quốc lộ 1A",
          "Quốc lộ 9", "đường Hồ Chí Minh nhánh Tây", "chợ trung tâm", "khu dân cư tổ 3", "thôn Đông",
          "thôn Tây", "khu phố 2", "gần trường tiểu học", "gần trạm y tế", "bờ sông", "khu tái định cư",
          "cạnh nhà văn hóa thôn", "đường liên xã", "khu công nghiệp", "bãi biển")
TITLES = {
    "XD": ("Xây dựng không phép tại {place}", "Lấn chiếm hành lang an toàn giao thông ở {place}",
           "Tập kết vật liệu xây dựng trái phép tại {place}", "Công trình xây dựng sai giấy phép ở {place}"),
    "MT": ("Rác thải tồn đọng nhiều ngày tại {place}", "Đổ trộm rác thải xây dựng ở {place}",
           "Nước thải chảy tràn gây ô nhiễm tại {place}", "Mùi hôi từ cơ sở chăn nuôi gần {place}",
           "Cây xanh gãy đổ sau mưa bão tại {place}"),
    "GT": ("Ổ gà, mặt đường hư hỏng tại {place}", "Sạt lở taluy dương trên {place}",
           "Biển báo giao thông bị đổ ở {place}", "Cầu tạm xuống cấp nguy hiểm gần {place}",
           "Ngập úng mặt đường tại {place}"),
    "DT": ("Đèn chiếu sáng công cộng không hoạt động ở {place}", "Mất nước sinh hoạt kéo dài tại {place}",
           "Cống thoát nước bị tắc ở {place}", "Nắp hố ga bị vỡ tại {place}", "Vỡ đường ống cấp nước ở {place}"),
    "AN": ("Tụ tập gây mất trật tự về đêm tại {place}", "Đua xe trái phép trên {place}",
           "Nghi vấn tổ chức đánh bạc ở {place}", "Karaoke gây ồn quá giờ quy định tại {place}"),
    "DV": ("Thái độ phục vụ chưa tốt tại trạm y tế gần {place}", "Chậm chi trả chế độ bảo hiểm xã hội",
           "Mạng internet chập chờn kéo dài ở {place}", "Trường học thu các khoản ngoài quy định"),
    "HC": ("Chậm giải quyết hồ sơ cấp giấy chứng nhận quyền sử dụng đất",
           "Cán bộ một cửa yêu cầu bổ sung giấy tờ không đúng quy định", "Hồ sơ chứng thực bị trả lại nhiều lần",
           "Chậm trả kết quả thủ tục đăng ký hộ tịch"),
    "KHAC": ("Đề nghị lắp đặt thêm đèn tín hiệu giao thông ở {place}", "Hàng rong lấn chiếm vỉa hè tại {place}",
             "Chó thả rông không rọ mõm ở {place}", "Kiến nghị sửa chữa nhà văn hóa {place}"),
}
DESCRIPTION = ("Người dân phản ánh: {title_lower}, thuộc {commune}. Tình trạng này đã kéo dài, ảnh hưởng đến "
               "sinh hoạt và đi lại của bà con. Đề nghị cơ quan chức năng kiểm tra, xử lý.")
REPLIES = ("Đơn vị đã kiểm tra hiện trường và xử lý dứt điểm nội dung phản ánh.",
           "Đã phối hợp với địa phương khắc phục; tiếp tục theo dõi, giám sát.",
           "Đã xử lý, lập biên bản và yêu cầu khắc phục theo quy định.",
           "Đã tiếp thu, chấn chỉnh và trả lời công dân theo quy định.")
COMMENTS = {
    1: ("Xử lý quá chậm, chưa triệt để.", "Không hài lòng, vấn đề vẫn còn."),
    2: ("Chậm so với hẹn.", "Xử lý chưa đến nơi đến chốn."),
    3: ("Tạm được.", "Đã xử lý nhưng cần nhanh hơn."),
    4: ("Cảm ơn cơ quan chức năng.", "Xử lý khá nhanh."),
    5: ("Rất hài lòng, xử lý nhanh.", "Cảm ơn đơn vị đã xử lý kịp thời!"),
}


def commune_agencies() -> list[tuple[DemoAgency, str]]:
    """The people's committees of the communes with the most reports, with their commune codes."""
    communes = read_communes()
    weights = _commune_weights(communes)
    order = np.argsort(-weights, kind="stable")[:COMMUNE_AGENCIES]
    result = []
    for i in order:
        c = communes[int(i)]
        level = {"Phường": "phường", "Xã": "xã", "Đặc khu": "đặc khu"}[c.unit_type]
        bare = c.name.split(" ", 1)[1] if " " in c.name else c.name
        agency = DemoAgency(f"UB{c.code}", f"Ủy ban nhân dân {level} {bare}", f"UBND {level} {bare}",
                            "commune", 0.8 + 0.5 * ((int(c.code) * 7919) % 100) / 100)
        result.append((agency, c.code))
    return result


def _commune_weights(communes) -> np.ndarray:
    return np.array([c.old_commune_count * (4.0 if c.unit_type == "Phường" else 1.0) for c in communes])


def seed_agencies(db: Database | None = None) -> None:
    db = get_db(db)
    with db.begin() as conn:
        have = set(conn.execute(select(agencies.c.code)).scalars())
        rows = [{"code": a.code, "name": a.name, "short_name": a.short_name, "kind": a.kind,
                 "commune_code": None} for a in DEPARTMENTS if a.code not in have]
        rows += [{"code": a.code, "name": a.name, "short_name": a.short_name, "kind": a.kind,
                  "commune_code": code} for a, code in commune_agencies() if a.code not in have]
        if rows:
            conn.execute(agencies.insert(), rows)


def seed_routing(db: Database | None = None) -> None:
    """The routing table the demo agencies imply: each field's main agency, and for fields handled by
    communes, each taking-part commune's own people's committee. Only into an empty table."""
    db = get_db(db)
    with db.begin() as conn:
        if conn.execute(select(func.count()).select_from(routing_rules)).scalar():
            return
        agency_id = dict(conn.execute(select(agencies.c.code, agencies.c.id)).all())
        category_id = dict(conn.execute(select(categories.c.code, categories.c.id)).all())
        rows = []
        for code, targets in ROUTES.items():
            main = max(targets, key=lambda t: t[1])[0]
            default = {"COMMUNE": FALLBACK.get(code, "SNV"), "WATER": "CNQT"}.get(main, main)
            rows.append({"category_id": category_id[code], "commune_code": None, "agency_id": agency_id[default]})
            if main == "COMMUNE":
                rows += [{"category_id": category_id[code], "commune_code": commune, "agency_id": agency_id[a.code]}
                         for a, commune in commune_agencies()]
        conn.execute(insert(routing_rules), rows)


class DemoDataExists(RuntimeError):
    pass


def seed_demo(db: Database | None = None, n: int = DEFAULT_REPORTS, seed: int = 2026, end: date | None = None,
              months: int = DEFAULT_MONTHS, with_events: bool = True, replace: bool = False) -> int:
    """Seed agencies and `n` reports received over `months` months up to `end` (local date, default
    today). Deterministic for a given (n, seed, end, months). Refuses to add to existing reports
    unless `replace`, which deletes all reports first."""
    db = get_db(db)
    with db.begin() as conn:
        existing = conn.execute(select(func.count()).select_from(reports)).scalar()
        if existing and not replace:
            raise DemoDataExists(f"the database already holds {existing} reports; use --replace to start over")
        if existing:
            for table in (media, report_events, reports):
                conn.execute(delete(table))
    seed_agencies(db)
    seed_routing(db)
    end = end or local_today()
    batch = _generate(db, n, seed, end, months)
    _insert(db, batch, with_events)
    return n


def _generate(db: Database, n: int, seed: int, end: date, months: int) -> dict:
    rng = np.random.default_rng(seed)
    communes = read_communes()
    category_ids = {row["code"]: row["id"] for row in db.read_rows(select(categories.c.code, categories.c.id))}
    agency_ids = {row["code"]: row["id"] for row in db.read_rows(select(agencies.c.code, agencies.c.id))}
    efficiency = {a.code: a.efficiency for a in DEPARTMENTS}
    commune_agency = {}
    for a, code in commune_agencies():
        efficiency[a.code] = a.efficiency
        commune_agency[code] = a.code

    # --- when: day weights with growth, season and weekends; then hour of day ---------------------
    start = _months_before(end, months)
    days = np.arange(np.datetime64(start), np.datetime64(end + timedelta(days=1)), dtype="datetime64[D]")
    month_of_day = (days.astype("datetime64[M]").astype(int) % 12) + 1
    weekday = (days.astype(int) + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    storm_day = np.isin(month_of_day, (9, 10, 11))
    w = np.linspace(1.0, 1.35, len(days)) * np.where(weekday >= 5, 0.65, 1.0) * np.where(storm_day, 1.45, 1.0)
    day_idx = np.sort(rng.choice(len(days), size=n, p=w / w.sum()))
    hour_profile = np.array([1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 7, 6, 7, 8, 9, 8, 7, 6, 5, 4, 3, 2, 1], float)
    seconds = (rng.choice(24, size=n, p=hour_profile / hour_profile.sum()) * 3600
               + rng.integers(0, 3600, size=n))
    local_created = days[day_idx].astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    created = local_created - np.timedelta64(LOCAL_OFFSET_MINUTES, "m")
    # Statuses are as of now, or of the end of the period when it lies in the past. When the period
    # ends today, the day's reports that would fall after now are moved into the preceding hours.
    end_utc = np.datetime64(local_to_utc(end + timedelta(days=1)), "s")
    now = min(np.datetime64(datetime.now(UTC).replace(tzinfo=None), "s"), end_utc)
    earlier = rng.integers(60, 12 * 3600, size=n).astype("timedelta64[s]")
    created = np.where(created > now, now - earlier, created)
    order = np.argsort(created, kind="stable")
    created, day_idx = created[order], day_idx[order]
    storm = storm_day[day_idx]

    # --- what and where -------------------------------------------------------------------------
    codes = [c.code for c in CATEGORIES]
    base = np.array([CATEGORY_SHARE[c] for c in codes])
    boosted = base * np.array([STORM_BOOST.get(c, 1.0) for c in codes])
    cat = np.where(storm, rng.choice(len(codes), size=n, p=boosted / boosted.sum()),
                   rng.choice(len(codes), size=n, p=base / base.sum()))
    cw = _commune_weights(communes) * rng.lognormal(0, 0.35, size=len(communes))
    commune = rng.choice(len(communes), size=n, p=cw / cw.sum())
    channels = list(CHANNEL_SHARE)
    channel = rng.choice(len(channels), size=n, p=list(CHANNEL_SHARE.values()))

    lat = np.array([c.lat for c in communes])[commune]
    lon = np.array([c.lon for c in communes])[commune]
    # Unknown areas count as 20 km², a typical rural commune.
    spread_km = np.minimum(1.5, np.sqrt(np.array([c.area_km2 or 20.0 for c in communes])) / 4)[commune]
    lat = lat + rng.normal(0, 1, n) * spread_km / 111.0
    lon = lon + rng.normal(0, 1, n) * spread_km / 106.0
    no_location = (np.array(channels)[channel] == "hotline") & (rng.random(n) < 0.6) | (rng.random(n) < 0.02)

    # --- routing ---------------------------------------------------------------------------------
    first_agency = np.empty(n, dtype=object)
    second_agency = np.empty(n, dtype=object)
    for ci, code in enumerate(codes):
        idx = np.flatnonzero(cat == ci)
        targets = [t for t, _ in ROUTES[code]]
        weights = np.array([wt for _, wt in ROUTES[code]])
        picks = rng.choice(len(targets), size=(len(idx), 2), p=weights / weights.sum())
        for col, out in ((0, first_agency), (1, second_agency)):
            out[idx] = [_resolve(targets[p], communes[commune[i]], code, commune_agency)
                        for p, i in zip(picks[:, col], idx, strict=True)]

    # --- handling --------------------------------------------------------------------------------
    limits = load_config()["policies"]
    urgent_share = np.array([URGENT_SHARE.get(c, 0.02) for c in codes])[cat]
    urgent = rng.random(n) < urgent_share
    # Typical agency handling, in calendar days: a share of the limit (working days are ~1.4 calendar days).
    normal_days = np.array([limits[c]["agency_days"] * 1.4 for c in codes])[cat]
    urgent_days = np.array([limits[c]["urgent_agency_hours"] / 24 for c in codes])[cat]
    handling_days = np.where(urgent, urgent_days * 1.5, normal_days * 0.4)
    classified = created + (rng.lognormal(np.log(1.5), 0.8, n) * 60).astype("timedelta64[m]")
    rejected = rng.random(n) < 0.045
    forwarded_first = classified + (rng.lognormal(np.log(2.5), 0.9, n) * 60).astype("timedelta64[m]")
    bounced = ~rejected & (rng.random(n) < 0.035) & (second_agency != first_agency)
    returned = forwarded_first + (rng.lognormal(np.log(30), 0.6, n) * 60).astype("timedelta64[m]")
    reforwarded = returned + (rng.lognormal(np.log(3), 0.7, n) * 60).astype("timedelta64[m]")
    forwarded = np.where(bounced, reforwarded, forwarded_first)
    agency = np.where(bounced, second_agency, first_agency)
    eff = np.array([efficiency[a] for a in agency])
    first_response = forwarded + (rng.lognormal(np.log(14), 0.8, n) * 60).astype("timedelta64[m]")
    handle_days = rng.lognormal(np.log(handling_days * eff), 0.75, n)
    stalled = rng.random(n) < 0.015
    handle_days = np.where(stalled, handle_days * 40 + 30, handle_days)
    resolved = first_response + (handle_days * 24 * 60).astype("timedelta64[m]")
    resolved = np.maximum(resolved, first_response + 30 * np.timedelta64(1, "m"))
    # A few reports are never closed: the stale overdue backlog every real system carries.
    resolved = np.where(rng.random(n) < 0.008, np.datetime64("2100-01-01T00:00:00"), resolved)
    rejected_at = classified + (rng.lognormal(np.log(1), 0.5, n) * 60).astype("timedelta64[m]")

    status = np.full(n, "received", dtype=object)
    status[classified <= now] = "classified"
    status[~rejected & (forwarded <= now)] = "forwarded"
    status[~rejected & (first_response <= now)] = "in_progress"
    status[~rejected & (resolved <= now)] = "resolved"
    status[rejected & (rejected_at <= now)] = "rejected"

    def upto(ts, reached):
        return np.where(reached, ts, np.datetime64("NaT"))

    st = status
    is_closed_or_later = {
        "classified": np.isin(st, ("classified", "forwarded", "in_progress", "resolved", "rejected")),
        "forwarded": np.isin(st, ("forwarded", "in_progress", "resolved")),
        "in_progress": np.isin(st, ("in_progress", "resolved")),
    }
    reached_forward = is_closed_or_later["forwarded"]
    sla_times = stage_times(
        created, np.array([category_ids[c] for c in codes])[cat], urgent,
        first_forwarded=upto(forwarded_first, reached_forward), forwarded=upto(forwarded, reached_forward),
        resolved=upto(resolved, st == "resolved"), db=db)
    deadline = np.where(reached_forward, sla_times.agency_deadline, sla_times.ioc_deadline)
    late = resolved > sla_times.agency_deadline
    rated = (st == "resolved") & (rng.random(n) < 0.4)
    on_time_probs = np.array([0.03, 0.04, 0.13, 0.35, 0.45])
    late_probs = np.array([0.22, 0.25, 0.28, 0.17, 0.08])
    rating = np.where(late, rng.choice(5, size=n, p=late_probs), rng.choice(5, size=n, p=on_time_probs)) + 1

    # --- text ------------------------------------------------------------------------------------
    place = rng.integers(0, len(PLACES), n)
    tpl = rng.integers(0, 1000, n)
    phone_digits = rng.integers(0, 10_000_000, n)
    prefix = rng.integers(0, len(MOBILE_PREFIXES), n)
    has_phone = rng.random(n) < np.array([PHONE_SHARE[c] for c in channels])[channel]
    reason = rng.integers(0, len(REJECT_REASONS), n)
    operator = rng.integers(0, len(OPERATORS), n)
    reply_idx = rng.integers(0, len(REPLIES), n)
    comment_idx = rng.integers(0, 2, n)

    created_py = created.astype("datetime64[s]").tolist()
    # Public codes number reports per local calendar year.
    year_of = (created + np.timedelta64(LOCAL_OFFSET_MINUTES, "m")).astype("datetime64[Y]").astype(int) + 1970
    seq_in_year = np.zeros(n, dtype=int)
    for y in np.unique(year_of):
        sel = year_of == y
        seq_in_year[sel] = np.arange(1, sel.sum() + 1)

    phone = [MOBILE_PREFIXES[prefix[i]] + f"{phone_digits[i]:07d}" if has_phone[i] else None for i in range(n)]
    rows = []
    for i in range(n):
        code = codes[cat[i]]
        c = communes[commune[i]]
        title = TITLES[code][tpl[i] % len(TITLES[code])].format(place=PLACES[place[i]])
        s = st[i]
        rows.append({
            "id": i + 1,
            "code": f"PA-{year_of[i]}-{seq_in_year[i]:06d}",
            "title": title,
            "description": DESCRIPTION.format(title_lower=title[0].lower() + title[1:], commune=c.name),
            "category_id": category_ids[code],
            "commune_code": c.code,
            "channel": channels[channel[i]],
            "lat": None if no_location[i] else round(float(lat[i]), 6),
            "lon": None if no_location[i] else round(float(lon[i]), 6),
            "reporter_phone": phone[i],
            "phone_tail": phone_tail(phone[i]),
            "status": s,
            "agency_id": agency_ids[agency[i]] if is_closed_or_later["forwarded"][i] else None,
            "created_at": created_py[i],
            "classified_at": _py(upto(classified[i], is_closed_or_later["classified"][i])),
            "forwarded_at": _py(upto(forwarded[i], is_closed_or_later["forwarded"][i])),
            "first_response_at": _py(upto(first_response[i], is_closed_or_later["in_progress"][i])),
            "resolved_at": _py(resolved[i]) if s == "resolved" else None,
            "rejected_at": _py(rejected_at[i]) if s == "rejected" else None,
            "deadline_at": None if s == "rejected" else _py(deadline[i]),
            "urgent": int(urgent[i]),
            "sla_policy_id": int(sla_times.policy_id[i]) if sla_times.policy_id[i] >= 0 else None,
            "ioc_deadline_at": _py(sla_times.ioc_deadline[i]),
            "agency_deadline_at": _py(sla_times.agency_deadline[i]) if reached_forward[i] else None,
            "first_forwarded_at": _py(forwarded_first[i]) if reached_forward[i] else None,
            "ioc_work_days": _float(sla_times.ioc_work_days[i]),
            "agency_work_days": _float(sla_times.agency_work_days[i]),
            "rating": int(rating[i]) if rated[i] else None,
            "rating_comment": COMMENTS[int(rating[i])][comment_idx[i]] if rated[i] else None,
            "reply": REPLIES[reply_idx[i]] if s == "resolved" else None,
            "source": "demo",
            "external_id": None,
            "updated_at": _py(_latest(s, created[i], classified[i], forwarded[i], first_response[i], resolved[i],
                                      rejected_at[i])),
            "version": 1,
        })
    # Its own generator, so that the photos leave every other demo figure as it would be without them.
    photo_share = np.array([PHOTO_SHARE[c] for c in channels])[channel]
    has_photo = np.random.default_rng(seed + 1).random(n) < photo_share
    return {
        "rows": rows, "bounced": bounced, "first_agency": first_agency, "returned": returned,
        "forwarded_first": forwarded_first, "reason": reason, "operator": operator, "agency_ids": agency_ids,
        "has_photo": has_photo,
    }


def _resolve(target: str, commune, category: str, commune_agency: dict) -> str:
    if target == "COMMUNE":
        return commune_agency.get(commune.code, FALLBACK.get(category, "SNV"))
    if target == "WATER":
        return "CTNQB" if commune.old_province_code == "44" else "CNQT"
    return target


def _py(ts) -> datetime | None:
    """numpy datetime64 (scalar or 0-d) to a naive datetime; NaT to None."""
    return None if ts is None else np.asarray(ts).astype("datetime64[s]").item()


def _float(value) -> float | None:
    return None if value != value else round(float(value), 6)


def _latest(status, created, classified, forwarded, first_response, resolved, rejected_at):
    return {"received": created, "classified": classified, "forwarded": forwarded, "in_progress": first_response,
            "resolved": resolved, "rejected": rejected_at}[status]


def _months_before(d: date, months: int) -> date:
    month_index = d.year * 12 + d.month - 1 - months
    year, month = divmod(month_index, 12)
    return date(year, month + 1, min(d.day, 28)) + timedelta(days=1)


def _events_for(row: dict, extra: dict, i: int) -> list[dict]:
    """The status history of one demo report, consistent with its timestamps."""
    op = OPERATORS[extra["operator"][i]] + " (IOC)"
    ev = [{"report_id": row["id"], "at": row["created_at"], "actor": "Hệ thống tiếp nhận", "from_status": None,
           "to_status": "received", "agency_id": None, "note": f"Tiếp nhận qua {CHANNEL_NAMES[row['channel']]}"}]
    if row["classified_at"]:
        ev.append({"report_id": row["id"], "at": row["classified_at"], "actor": op, "from_status": "received",
                   "to_status": "classified", "agency_id": None, "note": "Phân loại lĩnh vực"})
    if row["status"] == "rejected":
        ev.append({"report_id": row["id"], "at": row["rejected_at"], "actor": op, "from_status": "classified",
                   "to_status": "rejected", "agency_id": None, "note": REJECT_REASONS[extra["reason"][i]]})
        return ev
    if row["forwarded_at"] is None:
        return ev
    if extra["bounced"][i]:
        first = extra["agency_ids"][extra["first_agency"][i]]
        ev.append({"report_id": row["id"], "at": _py(extra["forwarded_first"][i]), "actor": op,
                   "from_status": "classified", "to_status": "forwarded", "agency_id": first,
                   "note": "Chuyển đơn vị xử lý"})
        ev.append({"report_id": row["id"], "at": _py(extra["returned"][i]), "actor": "Đơn vị xử lý",
                   "from_status": "forwarded", "to_status": "classified", "agency_id": first,
                   "note": "Trả lại IOC: không thuộc thẩm quyền"})
    ev.append({"report_id": row["id"], "at": row["forwarded_at"], "actor": op, "from_status": "classified",
               "to_status": "forwarded", "agency_id": row["agency_id"], "note": "Chuyển đơn vị xử lý"})
    if row["first_response_at"]:
        ev.append({"report_id": row["id"], "at": row["first_response_at"], "actor": "Đơn vị xử lý",
                   "from_status": "forwarded", "to_status": "in_progress", "agency_id": row["agency_id"],
                   "note": "Tiếp nhận xử lý"})
    if row["resolved_at"]:
        ev.append({"report_id": row["id"], "at": row["resolved_at"], "actor": "Đơn vị xử lý",
                   "from_status": "in_progress", "to_status": "resolved", "agency_id": row["agency_id"],
                   "note": row["reply"] or ""})
    return ev


def _insert(db: Database, batch: dict, with_events: bool) -> None:
    rows = batch["rows"]
    pictures = demo_media.ensure_pictures(db) if with_events else {}
    for lo in range(0, len(rows), BATCH):
        chunk = rows[lo:lo + BATCH]
        with db.begin() as conn:
            conn.execute(insert(reports), chunk)
            if with_events:
                events = [e for k, row in enumerate(chunk, start=lo) for e in _events_for(row, batch, k)]
                conn.execute(insert(report_events), events)
                photos = demo_media.media_rows(chunk, batch["has_photo"][lo:lo + BATCH], pictures)
                if photos:
                    conn.execute(insert(media), photos)
    if db.dialect == "postgresql":
        # Explicit ids were inserted: move the sequence past them.
        with db.begin() as conn:
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('reports', 'id'), "
                                 "COALESCE((SELECT MAX(id) FROM reports), 1))")


DEMO_ACCOUNTS = (
    ("admin", "Quản trị hệ thống", "admin", None),
    ("lanhdao", "Lãnh đạo UBND tỉnh", "leader", None),
    ("dieuhanh", "Điều hành viên IOC", "operator", None),
    ("sxd", "Lãnh đạo Sở Xây dựng", "agency", "SXD"),
    ("congan", "Lãnh đạo Công an tỉnh", "agency", "CAT"),
)


def create_demo_accounts(db: Database | None = None) -> list[tuple[str, str, str, str | None]]:
    """Create the demo users with fresh random passwords; returns (username, password, role, agency)."""
    created = []
    for username, full_name, role, agency in DEMO_ACCOUNTS:
        password = generate_password()
        create_user(username, password, role, agency, full_name=full_name, db=db)
        created.append((username, password, role, agency))
    return created


