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
LAYER_POINTS = "Phản ánh (ô lưới hoặc từng điểm)"
LAYER_COMMUNES = "Số phản ánh theo xã, phường"
LAYER_DISTRICTS = "Ranh giới huyện (trước 2025)"
MAP_CELLS_NOTE = "Đang hiển thị {total} phản ánh gộp theo ô lưới; phóng to để xem từng điểm."
MAP_POINTS_NOTE = "Hiển thị {shown} / {total} phản ánh trong khung nhìn"
MAP_CELLS_LEGEND = "Ô lưới: số phản ánh, càng đỏ càng nhiều quá hạn"
MAP_CELL_TOOLTIP = "{n} phản ánh · {p} đang xử lý · {o} quá hạn"  # filled in by assets/map.js
SERIES_RESOLVED = "Đã giải quyết"
SERIES_PENDING = "Đang xử lý, còn hạn"
SERIES_OVERDUE = "Quá hạn"
AXIS_REPORTS = "Số phản ánh"
AXIS_RATING = "Điểm hài lòng trung bình (1–5)"
EMPTY = "Không có dữ liệu cho bộ lọc này"
RATINGS_N = "{n} đánh giá"

# Freshness
DATA_AS_OF = "Dữ liệu lúc {time}"
VIEW_NARROWED = ("Khoảng thời gian đã chọn có {total} phản ánh, quá nhiều để tính nhanh; đang hiển thị từ "
                 "ngày {start} ({shown} phản ánh gần nhất). Hãy chọn khoảng thời gian ngắn hơn để xem giai đoạn "
                 "trước đó.")
DB_DOWN = "Mất kết nối cơ sở dữ liệu — đang hiển thị dữ liệu lúc {time}"
QUERY_TIMEOUT = ("Truy vấn quá {seconds} giây nên đã dừng; hãy thu hẹp khoảng thời gian hoặc bộ lọc. "
                 "Đang hiển thị dữ liệu trước đó.")
DB_DOWN_NO_DATA = "Mất kết nối cơ sở dữ liệu — chưa tải được dữ liệu. Hệ thống sẽ tự thử lại."

# Definitions, shown beside the numbers
# The general rules shown above a page's metric definitions (which come from queries/metrics.py).
PERIOD_RULE = "Phản ánh được tính theo ngày tiếp nhận, trong khoảng thời gian đã chọn."

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
SCORECARD_PARTIAL_NOTE = ("Kỳ chưa kết thúc: số liệu đến hết ngày {through}, so sánh với {days} ngày đầu của "
                          "{previous} ({previous_start}–{previous_end}), không với cả kỳ. Đơn vị có dưới {n} phản ánh "
                          "đã giải quyết trong kỳ được hiển thị nhưng không xếp hạng.")
PERIOD_RUNNING = " (đang diễn ra)"
NOT_RANKED = "Chưa đủ số liệu"
COL_RANK = "Hạng"
COL_AGENCY = "Đơn vị"
COL_RECEIVED = "Tiếp nhận lúc"
TREND_UP, TREND_DOWN, TREND_SAME = "▲", "▼", "="
EXPORT_CSV = "Xuất CSV"
STAGE_RULES = (
    "Hai giai đoạn: IOC (tiếp nhận → chuyển đơn vị lần đầu) và đơn vị (chuyển → giải quyết); thời hạn tính "
    "theo ngày làm việc, phản ánh khẩn tính theo giờ làm việc.",
    "Ngày làm việc: trừ thứ Bảy, Chủ nhật, ngày lễ, Tết; có tính ngày làm bù; giờ hành chính 07:30–11:30, "
    "13:30–17:00.",
)

# Agency detail
NAV_AGENCY = "Đơn vị"
AGENCY_PROVINCE = "Toàn tỉnh: {value}"
AGENCY_PROVINCE_AVG = "TB một đơn vị: {value}"
PANEL_ON_TIME_TREND = "Tỷ lệ giải quyết đúng hạn theo tháng"
PANEL_SATISFACTION_TREND = "Mức hài lòng theo tháng"
PANEL_WORST_CATEGORIES = "Lĩnh vực bị đánh giá thấp nhất"
PANEL_OVERDUE = "Phản ánh quá hạn"
SERIES_AGENCY = "Đơn vị"
SERIES_PROVINCE = "Toàn tỉnh"
COL_CODE = "Mã"
COL_TITLE = "Nội dung"
COL_CATEGORY = "Lĩnh vực"
COL_COMMUNE = "Xã, phường"
COL_DEADLINE = "Hạn xử lý"
COL_STATUS = "Trạng thái"
AGENCY_FORBIDDEN = "Bạn chỉ xem được số liệu của đơn vị mình."
AGENCY_UNKNOWN = "Không có đơn vị mã '{code}'."
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
WALL_MONTH_METRIC = "{label} — {month}"
WALL_DB_DOWN = "Mất kết nối — dữ liệu lúc {time}"
WALL_DB_DOWN_NO_DATA = "Mất kết nối — đang chờ dữ liệu"
WALL_DATA_AS_OF = "Dữ liệu lúc {time}"
VIEW_NARROWED = ("Khoảng thời gian đã chọn có {total} phản ánh, quá nhiều để tính nhanh; đang hiển thị từ "
                 "ngày {start} ({shown} phản ánh gần nhất). Hãy chọn khoảng thời gian ngắn hơn để xem giai đoạn "
                 "trước đó.")
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

# Security
CSRF_REFUSED = "Yêu cầu bị từ chối: không xuất phát từ trang của hệ thống (chống giả mạo yêu cầu)."
SESSION_EXPIRED = "Phiên làm việc đã hết hạn do không hoạt động. Vui lòng đăng nhập lại."
LOGIN_LOCKED = "Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {minutes} phút."
LOGIN_TOO_FAST = "Quá nhiều lần gửi đăng nhập từ địa chỉ này. Vui lòng đợi một phút rồi thử lại."
SESSION_ENDED = "Phiên đăng nhập đã kết thúc (đăng xuất, đổi mật khẩu hoặc đổi quyền). Vui lòng đăng nhập lại."
FORM_EXPIRED = "Biểu mẫu đã hết hạn hoặc không xuất phát từ trang của hệ thống. Hãy tải lại trang và thử lại."
REQUEST_TOO_LARGE = "Yêu cầu quá lớn (tối đa {size})."
BAD_CALLBACK_REQUEST = "Yêu cầu không đúng dạng của trang (thiếu hoặc sai output, inputs, state)."
UNKNOWN_CALLBACK = "Yêu cầu cập nhật một thành phần không tồn tại trên trang."
BAD_INPUT = "Dữ liệu gửi lên không hợp lệ: {detail}"

# Work: queue, report detail, agency workspace
NAV_QUEUE = "Hàng chờ IOC"
NAV_MY_AGENCY = "Đơn vị của tôi"
QUEUE_TITLE = "Hàng chờ điều hành"
QUEUE_FORBIDDEN = "Chỉ điều hành viên IOC và quản trị viên dùng hàng chờ."
QUEUE_NEW = "Chờ phân loại và chuyển xử lý ({n})"
QUEUE_NEW_NOTE = "Cũ nhất trước. Chọn một dòng để phân loại, chuyển, từ chối hoặc đánh dấu trùng."
QUEUE_PICK = "Chọn một phản ánh trong hàng chờ để xử lý."
QUEUE_EMPTY = "Không còn phản ánh nào chờ phân loại."
QUEUE_SEARCH = "Tìm phản ánh"
QUEUE_SEARCH_HINT = "Mã hoặc số phản ánh, nội dung (ít nhất 3 ký tự), số điện thoại (ít nhất 6 số cuối)"
QUEUE_SEARCH_BUTTON = "Tìm"
QUEUE_SEARCH_RESULTS = "{n} kết quả, mới nhất trước"
MORE_THAN = "hơn {n}"
QUEUE_SEARCH_MANY = "Hơn {n} kết quả, mới nhất trước (chỉ xem được {n} kết quả đầu; hãy thêm từ khóa để thu hẹp)"
ALL_AGENCIES = "{panel} — mọi đơn vị"
COL_RECEIVED = "Tiếp nhận lúc"
COL_CHANNEL = "Kênh"
COL_AGENCY = "Đơn vị"
COL_COUNTDOWN = "Thời hạn"
COL_FLAGS = "Ghi chú"
FLAG_URGENT = "Khẩn"
FLAG_RETURNED = "Bị trả lại"
COUNTDOWN_LEFT = "còn {hours} giờ LV"
COUNTDOWN_LEFT_DAYS = "còn {days} ngày LV"
COUNTDOWN_OVER = "quá {hours} giờ LV"
COUNTDOWN_OVER_DAYS = "quá {days} ngày LV"
COUNTDOWN_NONE = "chưa có hạn"
WORK_TITLE = "Việc của đơn vị"
WORK_TO_ACCEPT = "Chờ tiếp nhận ({n})"
WORK_IN_PROGRESS = "Đang xử lý ({n})"
WORK_NOTE = "Hạn gần nhất trước. Mở một phản ánh để tiếp nhận, trả lời hoặc trả lại IOC."

REPORT_TITLE = "Phản ánh {code}"
REPORT_NOT_FOUND = "Không tìm thấy phản ánh {code}, hoặc phản ánh không thuộc phạm vi của bạn."
REPORT_BACK_QUEUE = "← Hàng chờ"
REPORT_BACK = "← Quay lại"
REPORT_FIELDS = {
    "category": "Lĩnh vực", "commune": "Xã, phường", "address": "Địa chỉ", "channel": "Kênh tiếp nhận",
    "received": "Tiếp nhận lúc", "agency": "Đơn vị xử lý", "ioc_deadline": "Hạn IOC chuyển xử lý",
    "agency_deadline": "Hạn đơn vị giải quyết", "deadline": "Hạn hiện tại", "phone": "Điện thoại người phản ánh",
    "status": "Trạng thái", "urgency": "Mức độ", "resolved": "Giải quyết lúc", "duplicate_of": "Trùng với",
    "duplicates": "Các phản ánh trùng", "close_reason": "Lý do đóng",
}
REPORT_URGENT = "Khẩn"
REPORT_NORMAL = "Thường"
REPORT_OVERDUE = "Quá hạn"
REPORT_DESCRIPTION = "Nội dung phản ánh"
REPORT_MEDIA = "Hình ảnh, video"
REPORT_NO_MEDIA = "Không có hình ảnh hay video."
REPORT_PROOF = "Ảnh minh chứng của đơn vị"
REPORT_TIMELINE = "Diễn biến xử lý"
REPORT_REPLY = "Trả lời của đơn vị"
REPORT_NO_REPLY = "Chưa có trả lời."
REPORT_RATING = "Đánh giá của người dân"
REPORT_NO_RATING = "Người dân chưa đánh giá."
REPORT_RATING_VALUE = "{stars} ({rating}/5)"
REPORT_MAP = "Vị trí"
REPORT_NO_LOCATION = "Phản ánh không có tọa độ."
REPORT_NO_PHONE = "Không có"
REPORT_ACTIONS = "Xử lý phản ánh"
REPORT_NO_ACTIONS = "Không có thao tác nào bạn có thể làm với phản ánh ở trạng thái này."
TIMELINE_SYSTEM = "Hệ thống"
PHONE_REVEAL_REASON = "Lý do xem số (ghi vào nhật ký)"
PHONE_REVEAL = "Xem số điện thoại"
PHONE_REVEALED = "Đã ghi nhật ký lần xem số này."
PHONE_HIDDEN_NOTE = "Số điện thoại được che theo quy định bảo vệ dữ liệu cá nhân."

ACT_CATEGORY = "Lĩnh vực"
ACT_URGENT = "Phản ánh khẩn"
ACT_AGENCY = "Chuyển đến đơn vị"
ACT_SUGGESTED = "Gợi ý theo bảng phân công: {agency}"
ACT_NO_SUGGESTION = "Bảng phân công chưa có gợi ý cho lĩnh vực và xã, phường này."
ACT_NOTE = "Ghi chú kèm theo (không bắt buộc)"
ACT_CLASSIFY = "Lưu phân loại"
ACT_FORWARD = "Chuyển xử lý"
ACT_REJECT_REASON = "Lý do từ chối"
ACT_REJECT = "Từ chối"
ACT_DUPLICATE_OF = "Trùng với phản ánh"
ACT_DUPLICATE_HINT = "Gợi ý: cùng lĩnh vực, trong {radius} m và {days} ngày"
ACT_DUPLICATE_NONE = "Không có phản ánh gần giống; có thể nhập mã."
ACT_DUPLICATE_CODE = "hoặc nhập mã phản ánh gốc"
ACT_DUPLICATE = "Đánh dấu trùng"
ACT_ACCEPT = "Tiếp nhận xử lý"
ACT_REPLY = "Nội dung trả lời người dân"
ACT_PROOF = "Ảnh minh chứng (không bắt buộc): kéo thả hoặc bấm để chọn"
ACT_PROOF_CHOSEN = "Đã chọn: {name}"
ACT_RESOLVE = "Trả lời và hoàn thành"
ACT_RETURN_REASON = "Lý do trả lại IOC"
ACT_RETURN = "Trả lại IOC (không thuộc thẩm quyền)"
ACT_TRIAGE_TITLE = "Phân loại và chuyển xử lý"
ACT_CLOSE_TITLE = "Từ chối hoặc đánh dấu trùng"
ACT_AGENCY_TITLE = "Đơn vị xử lý"
ACT_DONE = {
    "classify": "Đã lưu phân loại phản ánh {code}.",
    "forward": "Đã chuyển phản ánh {code} đến đơn vị.",
    "reject": "Đã từ chối phản ánh {code}.",
    "mark_duplicate": "Đã đánh dấu phản ánh {code} là trùng.",
    "accept": "Đã tiếp nhận xử lý phản ánh {code}.",
    "resolve": "Đã trả lời và hoàn thành phản ánh {code}.",
    "return": "Đã trả lại phản ánh {code} cho IOC.",
}
ACT_BAD_UPLOAD = "Không đọc được tệp ảnh đã chọn."
ACT_RELOAD = "Tải lại"

# Administration
NAV_ADMIN = "Quản trị"
NAV_USERS = "Người dùng"
NAV_CATALOG = "Danh mục"
NAV_AUDIT = "Nhật ký"
ADMIN_FORBIDDEN = "Chỉ quản trị viên được dùng trang này."
USERS_TITLE = "Người dùng"
USERS_COLUMNS = {"username": "Tên đăng nhập", "full_name": "Họ tên", "role_label": "Vai trò",
                 "agency_name": "Đơn vị", "state": "Trạng thái", "created": "Tạo lúc"}
USER_ACTIVE = "Đang hoạt động"
USER_DISABLED = "Đã khoá"
USER_NEW = "Tạo tài khoản"
USER_EDIT = "Sửa tài khoản đã chọn"
USER_USERNAME = "Tên đăng nhập"
USER_FULL_NAME = "Họ tên"
USER_ROLE = "Vai trò"
USER_AGENCY = "Đơn vị (chỉ với vai trò Đơn vị xử lý)"
USER_PASSWORD = "Mật khẩu"
USER_PASSWORD_RULE = ("Ít nhất 10 ký tự, gồm 3 trong 4 loại: chữ thường, chữ hoa, chữ số, ký hiệu; hoặc cụm từ dài từ "
                      "16 ký tự. Không chứa tên đăng nhập.")
USER_CREATE = "Tạo tài khoản"
USER_SAVE_ROLE = "Lưu vai trò"
USER_DISABLE = "Khoá tài khoản"
USER_ENABLE = "Mở khoá"
USER_RESET = "Đặt lại mật khẩu"
USER_PICK = "Chọn một tài khoản trong bảng để sửa."
USER_DONE = {"create": "Đã tạo tài khoản {name}.", "role": "Đã lưu vai trò của {name}.",
             "disable": "Đã khoá tài khoản {name}.", "enable": "Đã mở khoá tài khoản {name}.",
             "reset": "Đã đặt mật khẩu mới cho {name}."}
CATALOG_TITLE = "Danh mục: đơn vị, lĩnh vực, phân công, cấu hình"
AGENCIES_TITLE = "Đơn vị xử lý"
AGENCY_COLUMNS = {"code": "Mã", "name": "Tên đơn vị", "short_name": "Tên ngắn", "kind_label": "Loại",
                  "commune_code": "Mã xã", "state": "Trạng thái"}
AGENCY_KIND_LABELS = {"department": "Sở, ngành", "police": "Công an", "commune": "UBND xã, phường",
                      "utility": "Doanh nghiệp dịch vụ", "other": "Khác"}
AGENCY_FORM = "Thêm hoặc sửa đơn vị (theo mã)"
AGENCY_SAVE = "Lưu đơn vị"
AGENCY_ACTIVE = "Đang hoạt động"
AGENCY_DONE = {"created": "Đã thêm đơn vị {code}.", "updated": "Đã cập nhật đơn vị {code}."}
CATEGORIES_TITLE = "Lĩnh vực"
CATEGORY_COLUMNS = {"code": "Mã", "name": "Tên lĩnh vực", "short_name": "Tên ngắn", "color": "Màu"}
CATEGORY_FORM = "Thêm hoặc sửa lĩnh vực (theo mã); thời hạn xử lý đặt ở trang Quy định SLA"
CATEGORY_SAVE = "Lưu lĩnh vực"
CATEGORY_DONE = {"created": "Đã thêm lĩnh vực {code}.", "updated": "Đã cập nhật lĩnh vực {code}."}
ROUTING_TITLE = "Bảng phân công (gợi ý đơn vị khi chuyển)"
ROUTING_COLUMNS = {"category_name": "Lĩnh vực", "commune_name": "Xã, phường", "agency_name": "Đơn vị"}
ROUTING_ANY_COMMUNE = "Mọi xã, phường"
ROUTING_FORM = "Đặt đơn vị cho lĩnh vực (tại một xã, phường, hoặc để trống là mọi nơi); bỏ trống đơn vị để xoá"
ROUTING_SAVE = "Lưu phân công"
ROUTING_DONE = {"set": "Đã lưu phân công.", "deleted": "Đã xoá dòng phân công."}
SETTINGS_TITLE = "Cấu hình"
SETTING_LABELS = {"agency_sees_phone": "Cho phép đơn vị xử lý xem số điện thoại người dân (có ghi nhật ký)",
                  "duplicate_radius_m": "Gợi ý trùng: khoảng cách tối đa (m)",
                  "duplicate_days": "Gợi ý trùng: cách nhau tối đa (ngày)"}
SETTINGS_SAVE = "Lưu cấu hình"
SETTINGS_DONE = "Đã lưu cấu hình."
AUDIT_TITLE = "Nhật ký thao tác"
AUDIT_COLUMNS = {"at_local": "Thời điểm", "username": "Người dùng", "role": "Vai trò", "action": "Thao tác",
                 "target": "Đối tượng", "detail": "Chi tiết", "ip": "Địa chỉ IP"}
AUDIT_USER = "Người dùng"
AUDIT_ACTION = "Thao tác"
AUDIT_TARGET = "Đối tượng (mã phản ánh, tài khoản…)"
AUDIT_SHOWN = "{n} dòng gần nhất"
AUDIT_ACTION_LABELS = {
    "report.classify": "Phân loại", "report.forward": "Chuyển xử lý", "report.reject": "Từ chối",
    "report.mark_duplicate": "Đánh dấu trùng", "report.accept": "Tiếp nhận xử lý", "report.resolve": "Hoàn thành",
    "report.return": "Trả lại IOC", "phone.reveal": "Xem số điện thoại", "phone.refused": "Bị từ chối xem số",
    "phone.search": "Tìm theo số điện thoại", "auth.login": "Đăng nhập", "auth.failed": "Đăng nhập sai",
    "auth.locked": "Đăng nhập bị tạm khoá", "auth.logout": "Đăng xuất",
    "auth.idle_timeout": "Hết phiên (không hoạt động)",
    "user.create": "Tạo tài khoản", "user.role": "Đổi vai trò", "user.disable": "Khoá tài khoản",
    "user.enable": "Mở khoá tài khoản", "user.reset_password": "Đặt lại mật khẩu", "agency.create": "Thêm đơn vị",
    "agency.update": "Sửa đơn vị", "category.create": "Thêm lĩnh vực", "category.update": "Sửa lĩnh vực",
    "routing.set": "Đặt phân công", "routing.delete": "Xoá phân công", "settings.set": "Đổi cấu hình",
    "sla.add_version": "Thêm phiên bản SLA", "screen.create": "Tạo mã màn hình", "screen.revoke": "Thu hồi màn hình",
}
