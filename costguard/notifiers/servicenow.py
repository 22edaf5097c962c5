"""ServiceNow incidents through the Table API (`/api/now/table/incident`, Basic auth).

`correlation_id` holds the incident's label, so an unrecorded create is found again with the
query `correlation_id=<label>`. Urgency and impact follow the severity; updates are work notes;
the resolution sets state 6 (Resolved) with a close code and close notes; a recurrence sets the
incident back to In Progress with a work note.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import AnyHttpUrl, Field, model_validator

from costguard.model import Severity
from costguard.notifiers.channel import ChannelParams, EnvVarName, utcnow
from costguard.notifiers.ticket_channel import Filing, Ref, TicketChannel, TicketParams
from costguard.notifiers.ticket_markup import cut, to_plain

RESOLVED_STATE = "6"
IN_PROGRESS_STATE = "2"
DEFAULT_LEVELS: Mapping[Severity, tuple[int, int]] = {
    Severity.CRITICAL: (1, 1), Severity.HIGH: (1, 2), Severity.MEDIUM: (2, 2),
    Severity.LOW: (3, 3), Severity.INFO: (3, 3),
}
"""(urgency, impact) per severity: 1 high, 2 medium, 3 low."""


class ServicenowParams(TicketParams):
    """Settings of a `type: servicenow` notifier."""

    instance_url: AnyHttpUrl = Field(description="https://INSTANCE.service-now.com")
    user: str = Field(min_length=1, description="Integration user name.")
    password_env: EnvVarName | None = Field(None, description="Variable holding the password.")
    password_file: Path | None = Field(None, description="File holding the password.")
    levels: dict[Severity, tuple[int, int]] = Field(
        default_factory=lambda: dict(DEFAULT_LEVELS),
        description="[urgency, impact] per severity, each 1 (high) to 3 (low).")
    assignment_group: str | None = Field(None, description="sys_id or name of the group.")
    category: str | None = Field(None, description="Incident category, e.g. security.")
    close_code: str = Field("Solution provided", description="Close code on resolution.")
    table: str = Field("incident", pattern=r"^[a-z0-9_]+$", description="Table to file in.")

    @model_validator(mode="after")
    def _needs_password(self) -> ServicenowParams:
        if not (self.password_env or self.password_file):
            raise ValueError("set password_env or password_file")
        return self


class ServicenowChannel(TicketChannel):
    """One ServiceNow incident per costguard incident."""

    type = "servicenow"
    Params = ServicenowParams
    params: ServicenowParams
    title_limit = 160  # the incident table's short_description length
    body_limit = 32_000
    noted_apart = False  # the work note or close notes go in the same PATCH

    def __init__(self, name: str, params: ChannelParams, env: Mapping[str, str] = os.environ,
                 *, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(name, params, env, clock=clock)
        self._password = self.secret("password") or ""
        basic = base64.b64encode(f"{self.params.user}:{self._password}".encode()).decode()
        self.secret_values(self._password, basic)
        base = str(self.params.instance_url).rstrip("/")
        self.table = f"{base}/api/now/table/{self.params.table}"
        self._base = base

    def headers(self) -> dict[str, str]:
        """JSON both ways; the credentials go through httpx's Basic auth."""
        return {"Accept": "application/json", "Content-Type": "application/json",
                "User-Agent": "costguard"}

    def http_auth(self) -> tuple[str, str]:
        """Basic auth with the integration user."""
        return (self.params.user, self._password)

    def body(self, text: str) -> str:
        """Plain text: journals and descriptions show no markup."""
        return to_plain(cut(text, self.body_limit))

    def _ref(self, answer: Mapping[str, Any]) -> Ref:
        sys_id = str(answer["sys_id"])
        url = f"{self._base}/nav_to.do?uri={self.params.table}.do?sys_id={sys_id}"
        return Ref(sys_id, str(answer.get("number") or sys_id), url)

    def find(self, filing: Filing) -> Ref | None:
        """The record whose correlation_id is the incident's label (label characters need no
        escaping in an encoded query)."""
        answer = self.request("GET", self.table, params={
            "sysparm_query": f"correlation_id={filing.label}",
            "sysparm_fields": "sys_id,number,state", "sysparm_limit": "1"}).json()
        found = answer.get("result") or []
        return self._ref(found[0]) if found else None

    def create(self, filing: Filing) -> Ref:
        """POST the incident with urgency, impact and correlation_id."""
        p = self.params
        urgency, impact = p.levels.get(filing.severity, (3, 3))
        record: dict[str, Any] = {
            "short_description": self.title(filing),
            "description": self.body(filing.description),
            "urgency": str(urgency), "impact": str(impact),
            "correlation_id": filing.label, "correlation_display": "costguard",
        }
        if p.assignment_group:
            record["assignment_group"] = p.assignment_group
        if p.category:
            record["category"] = p.category
        answer = self.request("POST", self.table, json=record,
                              params={"sysparm_fields": "sys_id,number"}).json()
        return self._ref(answer["result"])

    def _patch(self, ref: Ref, record: Mapping[str, str]) -> None:
        self.request("PATCH", f"{self.table}/{ref.id}", json=dict(record),
                     params={"sysparm_fields": "sys_id,number,state"})

    def comment(self, ref: Ref, text: str) -> None:
        """A work note."""
        self._patch(ref, {"work_notes": text})

    def raise_severity(self, ref: Ref, text: str, severity: Severity) -> None:
        """A work note and the new severity's urgency and impact, in one request."""
        urgency, impact = self.params.levels.get(severity, (3, 3))
        self._patch(ref, {"work_notes": text, "urgency": str(urgency), "impact": str(impact)})

    def close(self, ref: Ref, text: str) -> None:
        """State 6 (Resolved) with close code and notes, in one request."""
        self._patch(ref, {"state": RESOLVED_STATE, "close_code": self.params.close_code,
                          "close_notes": text})

    def reopen(self, ref: Ref, text: str) -> None:
        """Back to In Progress, with a work note saying what came back."""
        self._patch(ref, {"state": IN_PROGRESS_STATE, "work_notes": text})
