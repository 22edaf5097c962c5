"""Jira tickets: Jira Cloud (REST v3: Basic auth with a user and an API token, bodies in the
Atlassian Document Format) or Jira Data Center (REST v2: a personal access token as Bearer,
bodies in wiki markup).

The incident's label (`costguard-incident-...`) is on every issue, so an unrecorded create is
found again with JQL `labels = ...`. Resolving and reopening apply the workflow transitions
named in the config, looked up by name on each issue (GET transitions), since transition ids
differ between workflows.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import AnyHttpUrl, Field, model_validator

from costguard.model import Severity
from costguard.notifiers.channel import ChannelParams, EnvVarName, utcnow
from costguard.notifiers.ticket_channel import Filing, Ref, TicketChannel, TicketParams, log
from costguard.notifiers.ticket_markup import cut, to_adf, to_wiki

DEFAULT_PRIORITIES: Mapping[Severity, str] = {
    Severity.CRITICAL: "Highest", Severity.HIGH: "High", Severity.MEDIUM: "Medium",
    Severity.LOW: "Low", Severity.INFO: "Lowest",
}
"""Jira's default priority scheme, by severity."""


class JiraParams(TicketParams):
    """Settings of a `type: jira` notifier."""

    url: AnyHttpUrl = Field(description="https://example.atlassian.net, or a Data Center base URL.")
    api_version: Literal[2, 3] = Field(
        3, description="3: Jira Cloud (user + API token, ADF); 2: Data Center (Bearer PAT).")
    project: str = Field(min_length=1, description="Project key, e.g. SEC.")
    issue_type: str = Field("Bug", min_length=1, description="Issue type name.")
    user: str | None = Field(None, description="Account email for the API token (Cloud only).")
    token_env: EnvVarName | None = Field(None, description="Variable holding the token.")
    token_file: Path | None = Field(None, description="File holding the token.")
    priorities: dict[Severity, str] = Field(
        default_factory=lambda: dict(DEFAULT_PRIORITIES),
        description="Jira priority name per severity; {} sets no priority.")
    labels: tuple[str, ...] = Field(("costguard",), description="Labels on every issue.")
    components: tuple[str, ...] = Field((), description="Component names on every issue.")
    custom_fields: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra fields set on create, by field id: {customfield_10010: value}.")
    done_transition: str = Field("Done", description="Transition applied on resolution.")
    reopen_transition: str = Field("Reopen", description="Transition applied on recurrence.")

    @model_validator(mode="after")
    def _auth(self) -> JiraParams:
        if not (self.token_env or self.token_file):
            raise ValueError("set token_env or token_file")
        if self.api_version == 3 and not self.user:
            raise ValueError("api_version 3 (Jira Cloud) needs user: the API token's account")
        if self.api_version == 2 and self.user:
            raise ValueError("api_version 2 (Data Center) takes a personal access token, no user")
        for name in self.labels:
            if not name or any(c.isspace() for c in name):
                raise ValueError(f"labels: {name!r}: a Jira label has no spaces")
        return self


class JiraChannel(TicketChannel):
    """One Jira issue per incident."""

    type = "jira"
    Params = JiraParams
    params: JiraParams
    title_limit = 255
    body_limit = 32_000  # Jira's text field limit is 32,767 characters

    def __init__(self, name: str, params: ChannelParams, env: Mapping[str, str] = os.environ,
                 *, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(name, params, env, clock=clock)
        p = self.params
        token = self.secret("token") or ""
        if p.api_version == 3:
            basic = base64.b64encode(f"{p.user}:{token}".encode()).decode()
            self._auth = f"Basic {basic}"
            self.secret_values(token, basic)
        else:
            self._auth = f"Bearer {token}"
            self.secret_values(token)
        self.api = f"{str(p.url).rstrip('/')}/rest/api/{p.api_version}"

    def headers(self) -> dict[str, str]:
        """Auth and JSON; X-Atlassian-Token keeps XSRF checks out of the way."""
        return {"Authorization": self._auth, "Accept": "application/json",
                "Content-Type": "application/json", "X-Atlassian-Token": "no-check",
                "User-Agent": "costguard"}

    def body(self, text: str) -> Any:
        """ADF for Cloud, wiki markup for Data Center."""
        text = cut(text, self.body_limit)
        return to_adf(text) if self.params.api_version == 3 else to_wiki(text)

    def _ref(self, answer: Mapping[str, Any]) -> Ref:
        key = str(answer["key"])
        return Ref(str(answer["id"]), key, f"{str(self.params.url).rstrip('/')}/browse/{key}")

    def find(self, filing: Filing) -> Ref | None:
        """JQL on the incident's label (labels are plain words, so quoting is safe)."""
        jql = f'project = "{self.params.project}" AND labels = "{filing.label}" ORDER BY created'
        if self.params.api_version == 3:
            answer = self.request("POST", f"{self.api}/search/jql",
                                  json={"jql": jql, "fields": ["status"], "maxResults": 1}).json()
        else:
            answer = self.request("GET", f"{self.api}/search",
                                  params={"jql": jql, "fields": "status", "maxResults": 1}).json()
        issues = answer.get("issues") or []
        return self._ref(issues[0]) if issues else None

    def create(self, filing: Filing) -> Ref:
        """POST issue with summary, description, labels, priority, components, custom fields."""
        p = self.params
        fields: dict[str, Any] = {
            **p.custom_fields,
            "project": {"key": p.project},
            "issuetype": {"name": p.issue_type},
            "summary": self.title(filing),
            "description": self.body(filing.description),
            "labels": sorted({*p.labels, filing.label, f"severity-{filing.severity}"}),
        }
        priority = p.priorities.get(filing.severity)
        if priority:
            fields["priority"] = {"name": priority}
        if p.components:
            fields["components"] = [{"name": c} for c in p.components]
        answer = self.request("POST", f"{self.api}/issue", json={"fields": fields}).json()
        return self._ref(answer)

    def comment(self, ref: Ref, text: Any) -> None:
        """POST a comment."""
        self.request("POST", f"{self.api}/issue/{ref.id}/comment", json={"body": text})

    def raise_severity(self, ref: Ref, text: Any, severity: Severity) -> None:
        """The priority of the new severity (when the map has one)."""
        priority = self.params.priorities.get(severity)
        if priority:
            self.request("PUT", f"{self.api}/issue/{ref.id}",
                         json={"fields": {"priority": {"name": priority}}})

    def _transition(self, ref: Ref, name: str) -> None:
        """Apply the transition called `name`; when the issue offers none of that name (already
        there, after a retry) say so in the log and go on."""
        answer = self.request("GET", f"{self.api}/issue/{ref.id}/transitions").json()
        wanted = name.casefold()
        found = next((t for t in answer.get("transitions") or ()
                      if str(t.get("name", "")).casefold() == wanted), None)
        if found is None:
            log.warning("notifier %s: %s offers no transition %r; left as it is",
                        self.name, ref.key, name)
            return
        self.request("POST", f"{self.api}/issue/{ref.id}/transitions",
                     json={"transition": {"id": str(found["id"])}})

    def close(self, ref: Ref, text: Any) -> None:
        """The done transition (already there after a retry: left as it is)."""
        self._transition(ref, self.params.done_transition)

    def reopen(self, ref: Ref, text: Any) -> None:
        """The reopen transition, then a comment saying what came back."""
        self._transition(ref, self.params.reopen_transition)
        self.comment(ref, text)
