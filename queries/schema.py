"""The report database, as SQLAlchemy Core tables.

Every timestamp is stored as naive UTC. Local time (Asia/Ho_Chi_Minh) exists only at the edges:
filters convert local dates to UTC bounds, and SQL shifts by +7 h for local-day buckets.
Alembic migrations under queries/migrations are written from these definitions.
"""

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

CHANNELS = ("app", "portal", "fanpage", "hotline")
STATUSES = ("received", "classified", "forwarded", "in_progress", "resolved", "rejected")
OPEN_STATUSES = ("received", "classified", "forwarded", "in_progress")
CLOSED_STATUSES = ("resolved", "rejected")
ROLES = ("admin", "leader", "operator", "agency")
MEDIA_KINDS = ("photo", "video")
MEDIA_ROLES = ("citizen", "proof")  # what the citizen sent, or the agency's proof of resolution
# Why a report was closed without being resolved; the labels live in dashboard/text.py.
CLOSE_REASONS = ("out_of_scope", "duplicate", "insufficient_info", "untrue", "not_in_province")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


admin_units = Table(
    "admin_units",
    metadata,
    Column("code", String(10), primary_key=True),  # GSO code: 2 digits province, 5 digits commune
    Column("name", String(120), nullable=False),
    Column("level", String(10), nullable=False),
    Column("unit_type", String(20), nullable=False),  # Tỉnh, Phường, Xã, Đặc khu
    Column("parent_code", String(10), ForeignKey("admin_units.code")),
    Column("lat", Float),
    Column("lon", Float),
    Column("area_km2", Float),
    Column("old_district", String(120)),
    CheckConstraint("level IN ('province', 'commune')", name="level"),
)

categories = Table(
    "categories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(20), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("short_name", String(60), nullable=False),
    Column("default_handling_days", Integer, nullable=False),
    Column("color", String(9), nullable=False),
    Column("sort_order", Integer, nullable=False, server_default="0"),
)

sla_policies = Table(
    "sla_policies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("category_id", Integer, ForeignKey("categories.id"), nullable=False),
    Column("urgent", SmallInteger, nullable=False, server_default="0"),
    Column("ioc_limit", Float, nullable=False),
    Column("agency_limit", Float, nullable=False),
    Column("unit", String(10), nullable=False),  # working 'days' (normal) or working 'hours' (urgent)
    Column("valid_from", DateTime, nullable=False),  # naive UTC; the newest version not after arrival applies
    Column("created_at", DateTime, nullable=False),
    Column("created_by", String(80), nullable=False),
    Column("note", String(300), nullable=False, server_default=""),
    CheckConstraint("unit IN ('days', 'hours')", name="unit"),
    CheckConstraint("ioc_limit >= 0 AND agency_limit >= 0", name="limits"),
    Index("ix_sla_policies_lookup", "category_id", "urgent", "valid_from", unique=True),
)

# One row per local day: lets SQL count working days between dates (aging of overdue reports).
work_calendar = Table(
    "work_calendar",
    metadata,
    Column("day", String(10), primary_key=True),  # 'YYYY-MM-DD', local
    Column("working", SmallInteger, nullable=False),
    Column("working_days_through", Integer, nullable=False),  # working days from the first day up to this one
)

app_settings = Table(
    "app_settings",
    metadata,
    Column("key", String(60), primary_key=True),
    Column("value", Text, nullable=False),
)

agencies = Table(
    "agencies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(30), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("short_name", String(80), nullable=False),
    Column("kind", String(20), nullable=False),  # department, police, commune, utility, other
    Column("commune_code", String(10), ForeignKey("admin_units.code")),
    Column("active", SmallInteger, nullable=False, server_default="1"),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(80), nullable=False, unique=True),
    Column("full_name", String(200), nullable=False, server_default=""),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(20), nullable=False),
    Column("agency_id", Integer, ForeignKey("agencies.id")),
    Column("active", SmallInteger, nullable=False, server_default="1"),
    Column("created_at", DateTime, nullable=False),
    CheckConstraint(_in("role", ROLES), name="role"),
    CheckConstraint("(role = 'agency') = (agency_id IS NOT NULL)", name="agency_role"),
)

reports = Table(
    "reports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(30), nullable=False, unique=True),  # public code, e.g. PA-2026-000123
    Column("title", String(300), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("category_id", Integer, ForeignKey("categories.id")),
    Column("commune_code", String(10), ForeignKey("admin_units.code")),
    Column("channel", String(10), nullable=False),
    Column("lat", Float),
    Column("lon", Float),
    Column("reporter_phone", String(20)),
    # The phone's digits reversed, for "the number ends in …" searches by index (queries/cases.phone_tail).
    Column("phone_tail", String(20)),
    Column("status", String(15), nullable=False),
    Column("agency_id", Integer, ForeignKey("agencies.id")),
    Column("created_at", DateTime, nullable=False),
    Column("classified_at", DateTime),
    Column("forwarded_at", DateTime),
    Column("first_response_at", DateTime),
    Column("resolved_at", DateTime),
    Column("rejected_at", DateTime),
    Column("deadline_at", DateTime),  # the deadline of the stage the report is in (IOC, then agency)
    Column("urgent", SmallInteger, nullable=False, server_default="0"),
    Column("sla_policy_id", Integer, ForeignKey("sla_policies.id")),  # the policy version in force on arrival
    Column("ioc_deadline_at", DateTime),  # received -> forwarded, set on arrival
    Column("first_forwarded_at", DateTime),  # the IOC stage ends at the first forwarding, even if it bounces
    Column("agency_deadline_at", DateTime),  # forwarded -> resolved, set when forwarded
    Column("ioc_work_days", Float),  # working days from received to (first) forwarded, set when forwarded
    Column("agency_work_days", Float),  # working days from forwarded to resolved, set when resolved
    Column("rating", SmallInteger),
    Column("rating_comment", Text),
    Column("reply", Text),
    Column("address", String(300)),
    Column("source", String(30), nullable=False, server_default="paht"),
    Column("external_id", String(100)),
    Column("source_hash", String(40)),  # digest of the imported row: a re-import updates only what changed
    Column("intake_token", String(40), unique=True),  # Open311 token handed back on submission
    Column("updated_at", DateTime, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),  # optimistic locking: +1 on every change
    Column("close_reason", String(30)),  # why a rejected report was closed (CLOSE_REASONS)
    Column("duplicate_of_id", Integer, ForeignKey("reports.id")),
    CheckConstraint(_in("channel", CHANNELS), name="channel"),
    CheckConstraint(_in("status", STATUSES), name="status"),
    CheckConstraint("rating IS NULL OR (rating BETWEEN 1 AND 5)", name="rating"),
    Index("ix_reports_created_at", "created_at"),
    Index("ix_reports_agency_created", "agency_id", "created_at"),
    Index("ix_reports_category_created", "category_id", "created_at"),
    Index("ix_reports_commune_created", "commune_code", "created_at"),
    Index("ix_reports_source_external", "source", "external_id", unique=True),
    Index("ix_reports_updated_at", "updated_at"),  # the cheap data-version check reads max(updated_at)
    # Prefix searches (LIKE 'x%'): PostgreSQL uses the index for them only with text_pattern_ops.
    Index("ix_reports_phone_tail", "phone_tail", postgresql_ops={"phone_tail": "text_pattern_ops"}),
    # A report's page lists the reports marked duplicates of it; few are, so a partial index holds only those.
    Index("ix_reports_duplicate_of", "duplicate_of_id", sqlite_where=text("duplicate_of_id IS NOT NULL"),
          postgresql_where=text("duplicate_of_id IS NOT NULL")),
    # The overdue list reads open reports by deadline; a partial index keeps it tiny.
    Index(
        "ix_reports_open_deadline",
        "deadline_at",
        sqlite_where=text(_in("status", OPEN_STATUSES)),
        postgresql_where=text(_in("status", OPEN_STATUSES)),
    ),
    # An agency's overdue and due-soon lists: its open reports by deadline (the index above alone means walking
    # every agency's open reports).
    Index(
        "ix_reports_open_agency_deadline",
        "agency_id",
        "deadline_at",
        sqlite_where=text(_in("status", OPEN_STATUSES)),
        postgresql_where=text(_in("status", OPEN_STATUSES)),
    ),
    # An agency's work list: how many await acceptance and how many are in progress (counted in the index
    # alone), and each by deadline (the index above means reading and sorting all the agency's open reports).
    Index(
        "ix_reports_open_agency_status_deadline",
        "agency_id",
        "status",
        "deadline_at",
        sqlite_where=text(_in("status", OPEN_STATUSES)),
        postgresql_where=text(_in("status", OPEN_STATUSES)),
    ),
    # The IOC's queue: reports waiting to be classified and forwarded, oldest first.
    Index(
        "ix_reports_waiting_created",
        "created_at",
        sqlite_where=text(_in("status", ("received", "classified"))),
        postgresql_where=text(_in("status", ("received", "classified"))),
    ),
)

report_events = Table(
    "report_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("report_id", Integer, ForeignKey("reports.id", ondelete="CASCADE"), nullable=False),
    Column("at", DateTime, nullable=False),
    Column("actor_user_id", Integer, ForeignKey("users.id")),
    Column("actor", String(200), nullable=False),  # display name; kept even if the user is deleted
    Column("from_status", String(15)),
    Column("to_status", String(15), nullable=False),
    Column("agency_id", Integer, ForeignKey("agencies.id")),  # the agency concerned, for forwards and returns
    Column("note", Text, nullable=False, server_default=""),
    Index("ix_report_events_report_at", "report_id", "at"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("channel", String(10), nullable=False),  # every report submitted with the key gets this channel
    Column("key_prefix", String(12), nullable=False),  # shown in listings to tell keys apart
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 of the key; the key itself is never kept
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
    Column("last_used_at", DateTime),
    # Hosts whose media URLs the key may attach, comma-separated; empty: the key attaches no media.
    Column("media_hosts", Text, nullable=False, server_default=""),
    CheckConstraint(_in("channel", CHANNELS), name="channel"),
)

# Each Open311 submission with what identifies a repeat: the client's Idempotency-Key header, and a digest of the
# service, location and text. A repeat returns the first submission's report instead of making a second one.
open311_submissions = Table(
    "open311_submissions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("api_key_id", Integer, ForeignKey("api_keys.id"), nullable=False),
    Column("idempotency_key", String(200)),
    Column("fingerprint", String(64), nullable=False),
    Column("report_id", Integer, ForeignKey("reports.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Index("ix_open311_submissions_key_idempotency", "api_key_id", "idempotency_key", "created_at"),
    Index("ix_open311_submissions_key_fingerprint", "api_key_id", "fingerprint", "created_at"),
)

display_tokens = Table(
    "display_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),  # the screen, e.g. "Phòng họp tầng 2"
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256; the token itself is never kept
    Column("token_prefix", String(8), nullable=False),
    Column("settings", Text, nullable=False, server_default="{}"),  # JSON: rotate_seconds, refresh_seconds, panels
    Column("created_at", DateTime, nullable=False),
    Column("created_by", String(80), nullable=False),
    Column("revoked_at", DateTime),
    Column("last_seen_at", DateTime),
)

media = Table(
    "media",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("report_id", Integer, ForeignKey("reports.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("path", String(500), nullable=False),  # relative to the configured media folder
    Column("caption", String(300), nullable=False, server_default=""),
    Column("created_at", DateTime, nullable=False),
    Column("role", String(10), nullable=False, server_default="citizen"),
    CheckConstraint(_in("kind", MEDIA_KINDS), name="kind"),
    Index("ix_media_report", "report_id"),
)

# Who did what, for the admin's audit log: every write, every phone reveal, sign-ins and refusals.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime, nullable=False),
    Column("user_id", Integer, ForeignKey("users.id")),
    Column("username", String(80), nullable=False),
    Column("role", String(20), nullable=False),
    Column("action", String(40), nullable=False),  # e.g. report.forward, phone.reveal, user.create
    Column("target", String(100), nullable=False, server_default=""),  # a report code, a username, ...
    Column("detail", Text, nullable=False, server_default=""),
    Column("ip", String(64), nullable=False, server_default=""),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_action_at", "action", "at"),
    Index("ix_audit_log_target", "target"),
)

# Which agency the queue suggests for a field, optionally per commune (the commune rule wins).
routing_rules = Table(
    "routing_rules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("category_id", Integer, ForeignKey("categories.id"), nullable=False),
    Column("commune_code", String(10), ForeignKey("admin_units.code")),  # NULL: any commune
    Column("agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Index("ix_routing_rules_category_commune", "category_id", "commune_code", unique=True),
)

# Failed sign-ins, shared by every worker: enough of them in a window locks the name (or address) for a while.
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(80), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("at", DateTime, nullable=False),
    Index("ix_login_failures_username_at", "username", "at"),
    Index("ix_login_failures_ip_at", "ip", "at"),
)

# One row per sign-in. The session and remember-me cookies carry its token; a request is served only while
# the row holds: not signed out, not idle past IDLE_TIMEOUT_MINUTES, not ended by an admin's change to the
# account. So a copied cookie dies with the session, on every worker.
user_sessions = Table(
    "user_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 of the token; never the token
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("last_active_at", DateTime, nullable=False),
    Column("remember", SmallInteger, nullable=False, server_default="0"),
    Column("ip", String(64), nullable=False, server_default=""),
    Column("user_agent", String(200), nullable=False, server_default=""),
    Column("ended_at", DateTime),
    Column("end_reason", String(30)),  # logout, idle, password, role, disabled, admin
    Index("ix_user_sessions_user", "user_id", "ended_at"),
)

# Filled by a database trigger (migration 0006) whenever a report row is deleted, by any path: the
# analytics copy (queries/analytics.py) reads it to drop deleted reports from the months they were in.
report_deletions = Table(
    "report_deletions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("report_id", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),  # the deleted report's arrival: which month to rebuild
    Column("deleted_at", DateTime, nullable=False),
)

# The last public code number given in each local year (PA-2026-000123 is 123 of 2026). A counter, not the
# year's highest code plus one: past 999,999 a year the codes grow a digit, and string order no longer finds
# the highest; and a deleted report's code is never given again.
public_code_counters = Table(
    "public_code_counters",
    metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("last_number", Integer, nullable=False),
)
