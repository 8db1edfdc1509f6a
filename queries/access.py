"""Who is asking, and what they may do. Every read of a single report and every write takes a `Viewer`,
built by the dashboard from the signed-in user; the rules below are the only place rights are decided.

| right                    | admin | operator | leader | agency (own agency)          | display |
|--------------------------|-------|----------|--------|------------------------------|---------|
| report details           | yes   | yes      | yes    | own agency's reports only    | no      |
| triage: classify/forward | yes   | yes      | no     | no                           | no      |
| accept/resolve/return    | no    | no       | no     | reports forwarded to it      | no      |
| reveal a phone number    | yes   | yes      | no     | if the admin allows it       | no      |
| search by phone number   | yes   | yes      | no     | no                           | no      |
| administration           | yes   | no       | no     | no                           | no      |
"""

from __future__ import annotations

from dataclasses import dataclass

IOC_ROLES = ("admin", "operator")
DETAIL_ROLES = ("admin", "operator", "leader", "agency")


class WorkflowError(ValueError):
    """An action that cannot be done; the message is for the person who tried."""


class AccessDenied(WorkflowError):
    pass


class StaleReport(WorkflowError):
    """Someone else changed the report since the form was loaded."""


@dataclass(frozen=True)
class Viewer:
    user_id: int | None
    username: str
    role: str
    agency_code: str | None = None
    display_name: str = ""
    ip: str = ""

    @property
    def scope(self) -> str | None:
        """The agency an agency head is limited to; None for province-wide roles."""
        return self.agency_code if self.role == "agency" else None

    @property
    def name(self) -> str:
        return self.display_name or self.username

    @property
    def sees_details(self) -> bool:
        return self.role in DETAIL_ROLES

    @property
    def triages(self) -> bool:
        return self.role in IOC_ROLES

    @property
    def handles(self) -> bool:
        return self.role == "agency" and bool(self.agency_code)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def searches_phone(self) -> bool:
        return self.role in IOC_ROLES


def require(condition: bool, message: str = "Bạn không có quyền thực hiện thao tác này.") -> None:
    if not condition:
        raise AccessDenied(message)


SYSTEM = Viewer(user_id=None, username="system", role="admin", display_name="Hệ thống")
