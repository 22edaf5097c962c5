"""costguard.yml -> typed settings, validated with every problem reported at once.

No config at all is a valid setup (docs/configuration.md): the current credentials' account, every
enabled region, the shipped policies, SQLite in the state directory and notifications to the log.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ValidationError

from costguard.settings.addresses import check_database_url
from costguard.settings.muting import MuteRule, QuietHours  # noqa: F401  (re-exported)
from costguard.settings.paths import default_database_url, default_policy_file, state_dir
from costguard.settings.problems import (
    InvalidInput,
    Problem,
    field_path,
    from_validation_error,
    type_name,
)
from costguard.settings.sections import (  # noqa: F401  (re-exported: the config's vocabulary)
    NOT_IMPLEMENTED_YET,
    AccountConfig,
    AwsConfig,
    CostConfig,
    DatabaseConfig,
    EventsConfig,
    IncidentsConfig,
    MetricsConfig,
    OrganizationConfig,
    ReportsConfig,
    RetentionConfig,
    Route,
    RouteMatch,
    RuntimeConfig,
    S3TrailConfig,
    ScheduleConfig,
    SigmaConfig,
    StoreConfig,
    _Document,
    parse_duration,
)
from costguard.settings.yaml_loader import Located, YamlError, position_of, read_file, shown

SEARCH_PATH = (Path("costguard.yml"), Path("/etc/costguard/costguard.yml"))
_NOTIFIER_NAME = re.compile(r"[\w.-]{1,64}")  # it names outbox rows (100 characters at most)


@dataclass(frozen=True)
class Config:
    """Validated settings, with paths resolved against the config file's folder."""

    path: Path | None
    aws: AwsConfig
    database_url: str
    schedule: ScheduleConfig
    policy_paths: tuple[Path, ...]
    template_dirs: tuple[Path, ...]
    notifiers: Mapping[str, Any]
    routes: tuple[Route, ...]
    events: EventsConfig
    cost: CostConfig
    incidents: IncidentsConfig
    log_level: str
    reports_dir: Path = Path("reports")
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    reports: ReportsConfig = field(default_factory=ReportsConfig)
    mutes: tuple[MuteRule, ...] = ()
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    store: StoreConfig = field(default_factory=StoreConfig)


def find_config(explicit: str | Path | None, env: Mapping[str, str] = os.environ) -> Path | None:
    """The config file to use: -c, then $COSTGUARD_CONFIG, then the search path; None if none."""
    if explicit:
        return Path(explicit)
    if env.get("COSTGUARD_CONFIG"):
        return Path(env["COSTGUARD_CONFIG"])
    return next((p for p in SEARCH_PATH if p.is_file()), None)


class ChannelSpec(Protocol):
    """What validating a notifier section needs of its channel type: the settings model."""

    Params: ClassVar[type[BaseModel]]


ChannelTypes = Mapping[str, type[ChannelSpec]]
"""Config `type:` value -> channel class (`notifiers.CHANNEL_TYPES`, given by the caller)."""


def load_config(
    path: Path | None, env: Mapping[str, str] = os.environ, *, channel_types: ChannelTypes
) -> Config:
    """Read and validate a config file (None means all defaults); raises InvalidInput."""
    raw: Any = Located()
    problems: list[Problem] = []
    if path is not None:
        if not path.is_file():
            message = "a folder, not a config file" if path.is_dir() else "config file not found"
            raise InvalidInput([Problem(str(path), (1, 1), message)])
        try:
            document = read_file(path)
        except YamlError as exc:
            raise InvalidInput([Problem(str(path), exc.pos, exc.message)]) from None
        raw = Located() if document.data is None else document.data
        problems = [Problem(str(path), d.pos, d.message) for d in document.problems]
    return _build(path, raw, env, channel_types, problems)


def _build(path: Path | None, raw: Any, env: Mapping[str, str], channel_types: ChannelTypes,
           problems: list[Problem]) -> Config:
    file = str(path) if path else "<defaults>"
    if not isinstance(raw, dict):
        message = f"expected a mapping of sections such as aws:, got {type_name(raw)}"
        raise InvalidInput([*problems, Problem(file, getattr(raw, "pos", (1, 1)), message)])
    try:
        doc: _Document | None = _Document.model_validate(_not_implemented(file, raw, problems))
    except ValidationError as exc:
        problems.extend(from_validation_error(exc, file=file, root=raw))
        doc = None
    # Notifiers and the names routes give are read from the raw YAML even when the rest is
    # invalid, so every problem shows in one run.
    notifiers = _notifiers(file, raw, problems, channel_types)
    _check_routes(file, raw, problems)
    base = path.parent if path else Path.cwd()
    if doc is not None:
        db_url = _database_url(file, raw, doc, env, problems)
        _check_engine(file, raw, doc, db_url, problems)
        _check_paths(file, raw, base, doc, problems)
    if problems or doc is None:
        raise InvalidInput(problems)
    policy_paths = (
        tuple(base / p for p in doc.policies) if doc.policies is not None
        else (default_policy_file(),)
    )
    return Config(
        path=path, aws=doc.aws, database_url=db_url, schedule=doc.schedule,
        policy_paths=policy_paths, template_dirs=tuple(base / t for t in doc.templates),
        notifiers=notifiers, routes=tuple(doc.routes or ()), events=doc.events, cost=doc.cost,
        incidents=doc.incidents, log_level=doc.log_level, metrics=doc.metrics,
        reports=doc.reports, mutes=tuple(doc.mutes), runtime=doc.runtime, store=doc.store,
        reports_dir=base / doc.incidents.reports_dir if doc.incidents.reports_dir
        else state_dir() / "reports",
    )


def _check_engine(file: str, raw: Any, doc: _Document, db_url: str,
                  problems: list[Problem]) -> None:
    """The procrastinate engine keeps its job queue in the store's database: PostgreSQL only
    (SQLite has neither its LISTEN/NOTIFY nor its row locks)."""
    if doc.runtime.engine == "procrastinate" and not db_url.startswith("postgresql"):
        message = ("procrastinate needs a postgresql database.url (the job queue lives "
                   "beside the store); use engine: embedded with SQLite")
        pos = position_of(raw, ["runtime", "engine"])
        problems.append(Problem(file, pos, message, "", "runtime.engine"))


def _not_implemented(file: str, raw: Located, problems: list[Problem]) -> dict[str, Any]:
    """The document without the NOT_IMPLEMENTED_YET keys it sets, each reported once (what is
    inside such a key is not worth a second problem: the key has to go anyway)."""
    pruned: dict[str, Any] = dict(raw)
    for dotted, what in NOT_IMPLEMENTED_YET.items():
        section, key = dotted.split(".")
        inside = pruned.get(section)
        if isinstance(inside, dict) and key in inside:
            message = f"not implemented yet ({what}): remove the key"
            problems.append(Problem(file, position_of(raw, [section, key]), message, "", dotted))
            pruned[section] = {k: v for k, v in inside.items() if k != key}
    return pruned


def _check_paths(file: str, raw: Any, base: Path, doc: _Document, problems: list[Problem]
                 ) -> None:
    """Named policy files and template folders must exist: the problem points at the line that
    names them, not at a file that is not there."""
    for key, names, what in (("policies", doc.policies or [], "file or folder"),
                             ("templates", doc.templates, "folder")):
        for i, name in enumerate(names):
            found = (base / name).is_dir() if what == "folder" else (base / name).exists()
            if not found:
                message = f"no such {what}: {base / name}"
                problems.append(Problem(file, position_of(raw, [key, i]), message, "",
                                        f"{key}[{i}]"))


def _notifiers(file: str, raw: Any, problems: list[Problem], channel_types: ChannelTypes,
               ) -> dict[str, Any]:
    """Each notifier validated by its channel type's own params model.

    Reads the raw sections: what is not a mapping of mappings is _Document's problem to report.
    """
    sections = raw.get("notifiers")
    built: dict[str, Any] = {}
    for name, section in sections.items() if isinstance(sections, dict) else ():
        if not isinstance(name, str) or not isinstance(section, dict):
            continue
        at, subject = ["notifiers", name], f"notifier {shown(name)}"
        if not _NOTIFIER_NAME.fullmatch(name):
            message = "a notifier name is letters, digits, '-', '_' and '.' (at most 64)"
            problems.append(Problem(file, position_of(raw, at), message, subject))
            continue
        kind = section.get("type")
        channel = channel_types.get(kind) if isinstance(kind, str) else None
        if channel is None:
            known = ", ".join(sorted(channel_types))
            loc = [*at, "type"] if "type" in section else at
            msg = (f"required key is missing (known types: {known})" if "type" not in section
                   else f"unknown notifier type {shown(kind)} (known: {known})"
                   if isinstance(kind, str)
                   else f"expected one of {known}, got {type_name(kind)}")
            problems.append(Problem(file, position_of(raw, loc), msg, subject, "type"))
            continue
        params = {k: v for k, v in section.items() if k != "type"}
        try:
            built[name] = (channel, channel.Params.model_validate(params))
        except ValidationError as exc:
            problems.extend(
                from_validation_error(exc, file=file, root=raw, subject=subject, at=at)
            )
    return built


def _check_routes(file: str, raw: Any, problems: list[Problem]) -> None:
    """Routes and escalation may only name notifiers that exist (read raw, like _notifiers)."""
    sections = raw.get("notifiers")
    declared = set(sections) if isinstance(sections, dict) else set()
    names = sorted(map(str, declared))
    listed = ", ".join(n if len(n) <= 40 else f"{n[:40]}..." for n in names[:10])
    known = f"(known: {listed or 'none'}{', ...' if len(names) > 10 else ''})"
    routes = [
        (f"routes[{i}].notify", item)
        for (_, i), _ in _listed(raw, "routes")
        for item in _listed(raw, "routes", i, "notify")
    ]
    escalation = [("incidents.escalate_to", i) for i in _listed(raw, "incidents", "escalate_to")]
    weekly = [("reports.weekly", i) for i in _listed(raw, "reports", "weekly")]
    for key, (loc, name) in [*routes, *escalation, *weekly]:
        if isinstance(name, str) and name not in declared:
            msg = f"no notifier named {shown(name)} {known}"
            problems.append(Problem(file, position_of(raw, loc), msg, "", key))


def _listed(raw: Any, *path: Any) -> list[tuple[list[Any], Any]]:
    """(location, item) for each item of the YAML list at `path`; none when it is not a list."""
    node = raw
    for part in path:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return []
    return [([*path, j], item) for j, item in enumerate(node)] if isinstance(node, list) else []


def _database_url(file, raw, doc: _Document, env, problems: list[Problem]) -> str:
    """The URL given, or read from url_env (checked like a given one), or the default."""
    if not doc.database.url_env:
        return doc.database.url or default_database_url()
    name = doc.database.url_env
    value, pos = env.get(name), position_of(raw, ["database", "url_env"])
    if not value:
        message = f"environment variable {name} is not set"
        problems.append(Problem(file, pos, message, "", "database.url_env"))
        return ""
    try:
        return check_database_url(value)
    except ValueError as exc:
        problems.append(Problem(file, pos, f"${name}: {exc}", "", "database.url_env"))
        return ""


def problem_at(config: Config, loc: list[Any], message: str) -> Problem:
    """A problem with a value the config gave, found after loading (a port the daemon cannot
    bind), positioned on that value's line."""
    file = str(config.path) if config.path else "<defaults>"
    try:
        raw = read_file(config.path).data if config.path else None
    except YamlError:
        raw = None
    return Problem(file, position_of(raw, loc), message, "", field_path(loc))
