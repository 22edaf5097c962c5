"""GitHub issues (REST API; GitHub Enterprise Server through `api_url`).

Each issue carries the labels `costguard`, `severity:<severity>`, `check:<check>` and the
incident's own label, so an unrecorded create is found again by listing the repository's issues
with that label (`state=all`: the list reads the database, unlike the search API, which lags
behind a fresh issue). Resolving closes the issue as completed; a recurrence reopens it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import AnyHttpUrl, Field, field_validator, model_validator

from costguard.model import Severity
from costguard.notifiers.channel import ChannelParams, EnvVarName, utcnow
from costguard.notifiers.ticket_channel import Filing, Ref, TicketChannel, TicketParams
from costguard.notifiers.ticket_markup import cut, to_markdown

API_VERSION = "2022-11-28"
LABEL_CHARS = 50
"""GitHub refuses longer label names."""


class GithubParams(TicketParams):
    """Settings of a `type: github` notifier."""

    repo: str = Field(description="owner/name of the repository issues are filed in.")
    token_env: EnvVarName | None = Field(None, description="Variable holding the token.")
    token_file: Path | None = Field(None, description="File holding the token.")
    api_url: AnyHttpUrl = Field(AnyHttpUrl("https://api.github.com"),
                                description="GitHub Enterprise Server: https://HOST/api/v3.")
    labels: tuple[str, ...] = Field(("costguard",), description="Labels on every issue.")
    assignees: tuple[str, ...] = Field((), description="Logins assigned to every issue.")

    @field_validator("repo")
    @classmethod
    def _check_repo(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", value):
            raise ValueError("expected owner/name, e.g. acme/security")
        return value

    @model_validator(mode="after")
    def _needs_token(self) -> GithubParams:
        if not (self.token_env or self.token_file):
            raise ValueError("set token_env or token_file")
        return self


class GithubChannel(TicketChannel):
    """One GitHub issue per incident."""

    type = "github"
    Params = GithubParams
    params: GithubParams
    title_limit = 256
    body_limit = 65_000  # GitHub refuses bodies over 65,536 characters

    def __init__(self, name: str, params: ChannelParams, env: Mapping[str, str] = os.environ,
                 *, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(name, params, env, clock=clock)
        self._token = self.secret("token") or ""
        self.secret_values(self._token)
        self.issues = f"{str(self.params.api_url).rstrip('/')}/repos/{self.params.repo}/issues"

    def headers(self) -> dict[str, str]:
        """The token as Bearer, the versioned media type GitHub documents, a User-Agent."""
        return {"Authorization": f"Bearer {self._token}", "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION, "User-Agent": "costguard"}

    def body(self, text: str) -> str:
        """GitHub Markdown, every value escaped."""
        return to_markdown(cut(text, self.body_limit))

    @staticmethod
    def _ref(answer: Mapping[str, Any]) -> Ref:
        number = str(answer["number"])
        return Ref(number, f"#{number}", answer.get("html_url"))

    def find(self, filing: Filing) -> Ref | None:
        """The repository's issues with the incident's label, open or closed (pull requests,
        which the issues list also returns, are skipped)."""
        answer = self.request("GET", self.issues, params={
            "labels": filing.label, "state": "all", "per_page": 10}).json()
        issues = [i for i in answer if isinstance(i, dict) and "pull_request" not in i]
        return self._ref(issues[-1]) if issues else None

    def create(self, filing: Filing) -> Ref:
        """POST an issue with title, body and labels."""
        labels = {*self.params.labels, filing.label, f"severity:{filing.severity}",
                  *(f"check:{c}" for c in filing.checks)}
        payload: dict[str, Any] = {
            "title": self.title(filing),
            "body": self.body(filing.description),
            "labels": sorted(label[:LABEL_CHARS] for label in labels),
        }
        if self.params.assignees:
            payload["assignees"] = list(self.params.assignees)
        return self._ref(self.request("POST", self.issues, json=payload).json())

    def comment(self, ref: Ref, text: str) -> None:
        """POST an issue comment."""
        self.request("POST", f"{self.issues}/{ref.id}/comments", json={"body": text})

    def raise_severity(self, ref: Ref, text: str, severity: Severity) -> None:
        """The new severity's label added (adding it twice changes nothing)."""
        self.request("POST", f"{self.issues}/{ref.id}/labels",
                     json={"labels": [f"severity:{severity}"]})

    def close(self, ref: Ref, text: str) -> None:
        """Closed as completed (closing twice changes nothing)."""
        self.request("PATCH", f"{self.issues}/{ref.id}",
                     json={"state": "closed", "state_reason": "completed"})

    def reopen(self, ref: Ref, text: str) -> None:
        """Reopen, then comment with what came back."""
        self.request("PATCH", f"{self.issues}/{ref.id}",
                     json={"state": "open", "state_reason": "reopened"})
        self.comment(ref, text)
