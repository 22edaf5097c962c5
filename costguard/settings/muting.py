"""Quiet hours on a route and mutes in the config: when not to tell people, and about what.

Both are settings only; `costguard.alerts.quiet` applies them at a given time. A mute always
carries an expiry and a reason, so nothing is silenced forever or without a word why.
"""

from __future__ import annotations

from datetime import datetime, time, timezone
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from costguard.settings.problems import matching
from costguard.settings.yaml_loader import shown


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {shown(name)}: give an IANA name such as "
                         "Europe/Berlin or UTC") from None
    return name


def _utc(value: datetime) -> datetime:
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(
        timezone.utc)


ClockTime = Annotated[str, matching(r"([01]\d|2[0-3]):[0-5]\d", "a time of day such as 22:00")]
TimeZone = Annotated[str, AfterValidator(_zone)]
Until = Annotated[datetime, AfterValidator(_utc)]
"""An instant; a bare date or a time without an offset is UTC."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class QuietHours(_Strict):
    """A daily window in which a route's non-critical messages wait; critical never waits."""

    start: ClockTime = Field(description="when the quiet starts, e.g. 22:00")
    end: ClockTime = Field(description="when it ends, e.g. 07:00 (the next day if earlier)")
    timezone: TimeZone = Field("UTC", description="the IANA time zone of start and end")

    @model_validator(mode="after")
    def _a_window(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end are the same: a window needs two different times")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """`timezone` as a ZoneInfo."""
        return ZoneInfo(self.timezone)

    def times(self) -> tuple[time, time]:
        """start and end as times of day."""
        return time.fromisoformat(self.start), time.fromisoformat(self.end)


class MuteRule(_Strict):
    """Findings nobody is told about until `until`: every condition given must hold."""

    account: Annotated[str, matching(r"\d{12}", "a 12-digit account id")] | None = None
    check: str | None = Field(None, description="a check id")
    resource: str | None = Field(None, min_length=1,
                                 description="a glob on the resource, e.g. arn:aws:s3:::logs-*")
    tag: dict[str, str] | None = Field(None, description="tags the resource carries")
    until: Until = Field(description="when the mute ends (a date, or a date and time)")
    reason: str = Field(min_length=1, max_length=500, description="why it is acceptable")

    @model_validator(mode="after")
    def _says_what(self) -> MuteRule:
        if not (self.account or self.check or self.resource or self.tag):
            raise ValueError("a mute needs at least one of account, check, resource or tag")
        return self
