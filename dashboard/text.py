"""Every Vietnamese string the UI shows, in one place."""

APP_TITLE = "Phản ánh hiện trường tỉnh Quảng Trị"
APP_SUBTITLE = "Trung tâm Giám sát, điều hành đô thị thông minh (IOC)"
PROVINCE_NAME = "Tỉnh Quảng Trị"

STATUS_LABELS = {
    "received": "Mới tiếp nhận",
    "classified": "Đã phân loại",
    "forwarded": "Đã chuyển xử lý",
    "in_progress": "Đang xử lý",
    "resolved": "Đã giải quyết",
    "rejected": "Từ chối",
}
STATUS_COLORS = {
    "received": "#6f42c1",
    "classified": "#0d6efd",
    "forwarded": "#fd7e14",
    "in_progress": "#ffc107",
    "resolved": "#198754",
    "rejected": "#6c757d",
}
OVERDUE_COLOR = "#dc3545"
CHANNEL_LABELS = {
    "app": "Ứng dụng di động",
    "portal": "Cổng thông tin",
    "fanpage": "Fanpage Facebook",
    "hotline": "Tổng đài AI",
}
ROLE_LABELS = {
    "admin": "Quản trị",
    "leader": "Lãnh đạo",
    "operator": "Điều hành viên IOC",
    "agency": "Đơn vị xử lý",
}

# Login
LOGIN_TITLE = "Đăng nhập"
LOGIN_USERNAME = "Tên đăng nhập"
LOGIN_PASSWORD = "Mật khẩu"
LOGIN_SUBMIT = "Đăng nhập"
LOGIN_FAILED = "Tên đăng nhập hoặc mật khẩu không đúng."
LOGIN_EXPIRED = "Phiên đăng nhập đã hết hạn, vui lòng thử lại."
LOGOUT = "Đăng xuất"
UNAUTHORIZED = "Chưa đăng nhập hoặc phiên đăng nhập đã hết hạn."

# Navigation
NAV_OVERVIEW = "Tổng quan"

# Filter bar
FILTER_PERIOD = "Thời gian"
FILTER_PRESET = "Khoảng nhanh"
FILTER_CATEGORY = "Lĩnh vực"
FILTER_AGENCY = "Đơn vị xử lý"
FILTER_COMMUNE = "Xã, phường"
FILTER_CHANNEL = "Kênh tiếp nhận"
FILTER_ALL = "Tất cả"
FILTER_RESET = "Đặt lại bộ lọc"
DROPDOWN_LABELS = {
    "select_all": "Chọn tất cả",
    "deselect_all": "Bỏ chọn tất cả",
    "selected_count": "Đã chọn {num_selected}",
    "search": "Tìm kiếm",
    "clear_search": "Xóa tìm kiếm",
    "clear_selection": "Xóa lựa chọn",
    "no_options_found": "Không tìm thấy",
}
PRESETS = {
    "7d": "7 ngày qua",
    "30d": "30 ngày qua",
    "month": "Tháng này",
    "ytd": "Từ đầu năm",
    "12m": "12 tháng qua",
    "all": "Toàn bộ",
}

# KPI cards
KPI_TOTAL = "Tổng phản ánh"
KPI_RESOLVED = "Đã giải quyết"
KPI_PENDING = "Đang xử lý"
KPI_OVERDUE = "Quá hạn"
KPI_ON_TIME = "Giải quyết đúng hạn"
KPI_SATISFACTION = "Mức hài lòng"
KPI_TOTAL_NOTE = "{rejected} bị từ chối"
KPI_RESOLVED_NOTE = "{share} tổng số"
KPI_PENDING_NOTE = "chưa có kết quả"
KPI_OVERDUE_NOTE = "{share} số đang xử lý"
KPI_ON_TIME_NOTE = "trên {n} phản ánh đã giải quyết"
KPI_SATISFACTION_NOTE = "trên thang 5, {n} lượt đánh giá"
NO_VALUE = "—"

# Panels
PANEL_MAP = "Bản đồ phản ánh"
PANEL_BACKLOG = "Tồn đọng theo đơn vị"
PANEL_SATISFACTION = "Mức hài lòng theo đơn vị (đơn vị có từ 5 lượt đánh giá)"
PANEL_TREND = "Xu hướng theo lĩnh vực"
PANEL_CHANNELS = "Kênh tiếp nhận"
LAYER_POINTS = "Phản ánh (theo trạng thái)"
LAYER_COMMUNES = "Số phản ánh theo xã, phường"
LAYER_DISTRICTS = "Ranh giới huyện (trước 2025)"
MAP_POINTS_NOTE = "Hiển thị {shown} / {total} phản ánh có vị trí"
MAP_POINTS_CAPPED = " (mới nhất)"
SERIES_RESOLVED = "Đã giải quyết"
SERIES_PENDING = "Đang xử lý, còn hạn"
SERIES_OVERDUE = "Quá hạn"
AXIS_REPORTS = "Số phản ánh"
AXIS_RATING = "Điểm hài lòng trung bình (1–5)"
EMPTY = "Không có dữ liệu cho bộ lọc này"
RATINGS_N = "{n} đánh giá"

# Freshness
DATA_AS_OF = "Dữ liệu lúc {time}"
DB_DOWN = "Mất kết nối cơ sở dữ liệu — đang hiển thị dữ liệu lúc {time}"
DB_DOWN_NO_DATA = "Mất kết nối cơ sở dữ liệu — chưa tải được dữ liệu. Hệ thống sẽ tự thử lại."

# Definitions, shown beside the numbers
DEFINITIONS = (
    "Phản ánh được tính theo ngày tiếp nhận, trong khoảng thời gian đã chọn.",
    "Đang xử lý: mới tiếp nhận, đã phân loại, đã chuyển hoặc đơn vị đang xử lý.",
    "Quá hạn: đang xử lý và đã qua hạn giải quyết.",
    "Đúng hạn: tỷ lệ phản ánh đã giải quyết trước hoặc đúng hạn.",
    "Hài lòng: điểm đánh giá trung bình của người dân (1–5).",
)

NOT_FOUND_TITLE = "Không tìm thấy trang"
NOT_FOUND_BODY = "Trang bạn tìm không tồn tại."
NOT_FOUND_BACK = "Về trang tổng quan"

# Scorecard
NAV_SCORECARD = "Xếp hạng đơn vị"
SCORECARD_TITLE = "Bảng xếp hạng đơn vị xử lý"
PERIOD_KIND = "Kỳ"
PERIOD_KINDS = {"month": "Tháng", "quarter": "Quý", "year": "Năm"}
PERIOD = "Kỳ xếp hạng"
SCORECARD_NOTE = ("So sánh với {previous}. Đơn vị có dưới {n} phản ánh đã giải quyết trong kỳ được hiển thị "
                  "nhưng không xếp hạng.")
NOT_RANKED = "Chưa đủ số liệu"
COL_RANK = "Hạng"
COL_AGENCY = "Đơn vị"
COL_SCORE = "Điểm tổng hợp"
COL_RECEIVED = "Tiếp nhận"
COL_RESOLVED = "Đã giải quyết"
COL_PENDING = "Đang xử lý"
COL_OVERDUE = "Quá hạn"
COL_ON_TIME = "Đúng hạn (%)"
COL_MEDIAN = "Trung vị (ngày LV)"
COL_SATISFACTION = "Hài lòng (TB)"
COL_RATINGS = "Số đánh giá"
COL_BOUNCE = "Trả lại (%)"
TREND_UP, TREND_DOWN, TREND_SAME = "▲", "▼", "="
EXPORT_CSV = "Xuất CSV"
SCORE_FORMULA = ("Điểm tổng hợp (0–100) = 40 × tỷ lệ đúng hạn + 30 × (điểm hài lòng − 1)/4 + 20 × (1 − quá hạn/đang "
                 "xử lý) + 10 × (1 − tỷ lệ trả lại). Phần không có số liệu được bỏ qua, các trọng số còn lại được "
                 "quy đổi về 100.")
SLA_DEFINITIONS = (
    "Hai giai đoạn: IOC (tiếp nhận → chuyển đơn vị lần đầu) và đơn vị (chuyển → giải quyết); thời hạn tính "
    "theo ngày làm việc, phản ánh khẩn tính theo giờ làm việc.",
    "Ngày làm việc: trừ thứ Bảy, Chủ nhật, ngày lễ, Tết; có tính ngày làm bù; giờ hành chính 07:30–11:30, "
    "13:30–17:00.",
    "Đúng hạn (đơn vị): tỷ lệ phản ánh đã giải quyết trước hoặc đúng hạn của giai đoạn đơn vị. Phản ánh không "
    "có hạn được tính là 'không có SLA', không bao giờ tính là đúng hạn.",
    "Trung vị: số ngày làm việc từ khi chuyển đến khi giải quyết, ở giữa dãy số.",
    "Trả lại: số lần đơn vị trả phản ánh về IOC (không thuộc thẩm quyền) trên số lần được chuyển đến.",
    "Quá hạn: đang xử lý và đã qua hạn của giai đoạn hiện tại.",
)

# Agency detail
NAV_AGENCY = "Đơn vị"
AGENCY_PROVINCE = "Toàn tỉnh: {value}"
AGENCY_PROVINCE_AVG = "TB một đơn vị: {value}"
PANEL_ON_TIME_TREND = "Tỷ lệ giải quyết đúng hạn theo tháng"
PANEL_SATISFACTION_TREND = "Mức hài lòng theo tháng"
PANEL_WORST_CATEGORIES = "Lĩnh vực bị đánh giá thấp nhất"
PANEL_OVERDUE = "Phản ánh quá hạn"
PANEL_DUE_SOON = "Sắp đến hạn (trong 2 ngày làm việc)"
SERIES_AGENCY = "Đơn vị"
SERIES_PROVINCE = "Toàn tỉnh"
COL_CODE = "Mã"
COL_TITLE = "Nội dung"
COL_CATEGORY = "Lĩnh vực"
COL_COMMUNE = "Xã, phường"
COL_DEADLINE = "Hạn xử lý"
COL_DAYS_OVER = "Quá hạn (ngày LV)"
COL_DAYS_LEFT = "Còn lại (ngày LV)"
COL_STATUS = "Trạng thái"
AGENCY_FORBIDDEN = "Bạn chỉ xem được số liệu của đơn vị mình."
AGENCY_UNKNOWN = "Không có đơn vị mã '{code}'."
KPI_IOC_ON_TIME = "Chuyển đúng hạn (IOC)"
KPI_AGENCY_ON_TIME = "Giải quyết đúng hạn"
KPI_MEDIAN = "Trung vị thời gian xử lý"
KPI_BOUNCE = "Tỷ lệ trả lại"
KPI_DUE_SOON = "Đến hạn trong 1 ngày LV"
DAYS_UNIT = "{value} ngày LV"

# SLA policies
NAV_SLA = "Quy định SLA"
SLA_TITLE = "Quy định thời hạn xử lý (SLA)"
SLA_INTRO = ("Mỗi lần sửa tạo một phiên bản mới có hiệu lực từ thời điểm chọn; phản ánh đến trước thời điểm đó "
             "vẫn theo phiên bản cũ.")
SLA_FORBIDDEN = "Chỉ quản trị viên được xem và sửa quy định SLA."
SLA_URGENT_LABEL = "Phản ánh khẩn (tính theo giờ làm việc)"
SLA_IOC_LABEL = "Thời hạn IOC"
SLA_AGENCY_LABEL = "Thời hạn đơn vị"
SLA_VALID_FROM_LABEL = "Hiệu lực từ (giờ địa phương, YYYY-MM-DD HH:MM)"
SLA_NOTE_LABEL = "Ghi chú"
SLA_SAVE_LABEL = "Lưu phiên bản mới"
SLA_SAVED = "Đã lưu phiên bản mới cho lĩnh vực {category}."
SLA_BAD_TIME = "Thời điểm hiệu lực phải có dạng YYYY-MM-DD HH:MM."
UNIT_LABELS = {"days": "ngày làm việc", "hours": "giờ làm việc"}

# Wall screens
SCREEN_REFUSED = "Mã màn hình không hợp lệ."
SCREEN_REVOKED = "Màn hình này đã bị thu hồi quyền hiển thị."
SCREEN_ONLY_WALL = "Tài khoản màn hình chỉ xem được trang màn hình lớn."
WALL_TITLE = "PHẢN ÁNH HIỆN TRƯỜNG — TỈNH QUẢNG TRỊ"
WALL_PANELS = {"kpis": "Tổng quan", "ranking": "Xếp hạng đơn vị", "trends": "Xu hướng và lĩnh vực",
               "ticker": "Phản ánh mới nhất", "alerts": "Cảnh báo"}
WALL_TODAY = "Tiếp nhận hôm nay"
WALL_MONTH = "Tiếp nhận {month}"
WALL_PENDING = "Đang xử lý"
WALL_OVERDUE = "Quá hạn"
WALL_ON_TIME = "Đúng hạn {month}"
WALL_SATISFACTION = "Hài lòng {month}"
WALL_DB_DOWN = "Mất kết nối — dữ liệu lúc {time}"
WALL_DB_DOWN_NO_DATA = "Mất kết nối — đang chờ dữ liệu"
WALL_DATA_AS_OF = "Dữ liệu lúc {time}"
WALL_RANK_ON_TIME = "Tỷ lệ giải quyết đúng hạn — {month}"
WALL_RANK_SATISFACTION = "Mức hài lòng — {month}"
WALL_TREND = "Phản ánh tiếp nhận 30 ngày qua"
WALL_CATEGORIES = "Theo lĩnh vực, 30 ngày qua"
WALL_URGENT = "Phản ánh khẩn mới (24 giờ)"
WALL_SPIKES = "Tăng đột biến (24 giờ so với bình thường)"
WALL_TOP_OVERDUE = "Đơn vị có nhiều phản ánh quá hạn"
WALL_NONE = "Không có"
WALL_SPIKE_ITEM = "{name}: {count} phản ánh (bình thường {usual}/ngày)"
WALL_OVERDUE_ITEM = "{name}: {overdue} quá hạn / {pending} đang xử lý"
NAV_SCREENS = "Màn hình lớn"
SCREENS_TITLE = "Màn hình lớn (mã hiển thị)"
SCREENS_INTRO = ("Mỗi màn hình có một mã riêng: chỉ xem trang màn hình lớn, không có dữ liệu cá nhân, không tự hết "
                 "hạn. Địa chỉ có mã chỉ hiện một lần khi tạo.")
SCREENS_FORBIDDEN = "Chỉ quản trị viên được quản lý màn hình lớn."
SCREENS_NAME = "Tên màn hình"
SCREENS_ROTATE = "Xoay trang (giây)"
SCREENS_REFRESH = "Làm mới dữ liệu (giây)"
SCREENS_CREATE = "Tạo mã màn hình"
SCREENS_REVOKE = "Thu hồi"
SCREENS_CREATED = "Đã tạo. Mở địa chỉ sau trên màn hình (chỉ hiện một lần):"
SCREENS_REVOKED = "Đã thu hồi màn hình '{name}'."
SCREENS_COLUMNS = {"name": "Màn hình", "prefix": "Mã", "state": "Trạng thái", "settings": "Cài đặt",
                   "created": "Tạo lúc", "last_seen": "Lần cuối kết nối"}
