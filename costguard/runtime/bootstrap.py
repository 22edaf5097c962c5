"""Loading what every command needs: the checks, the config, the policies, and the store.

Bad input raises `InvalidInput` with every problem; the CLI prints them one per line and exits 2
before anything is written, so a bad config never changes what is stored.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from costguard.activity.sigma_match import RuleSet, RulesOnDemand
from costguard.checks import Registry, default_registry
from costguard.checks.param_types import REGION_CHECK
from costguard.collectors.client_cache import CLIENTS
from costguard.notifiers import CHANNEL_TYPES
from costguard.settings.config import Config, find_config, load_config
from costguard.settings.paths import shipped_dir
from costguard.settings.policies import Policy, load_policies
from costguard.settings.problems import InvalidInput
from costguard.settings.regions import check_region

if TYPE_CHECKING:
    from costguard.store import Store

PARAMS_CONTEXT = {REGION_CHECK: check_region}
"""What check params are validated with: region names against botocore's endpoint data."""


@dataclass(frozen=True)
class Setup:
    """A validated config, the policies it selects, the check registry they were read with,
    and the Sigma rules of `events.sigma`."""

    config: Config
    policies: list[Policy]
    registry: Registry
    sigma_rules: RuleSet = field(default_factory=RuleSet)


def load_setup(
    explicit: str | Path | None,
    env: Mapping[str, str] = os.environ,
    registry: Registry | None = None,
    *,
    sigma_on_demand: bool = False,
) -> Setup:
    """Config and policies, validated; raises InvalidInput listing every problem.

    With `sigma_on_demand` (a one-shot scan) the Sigma rules are read the first time an event
    needs them, and a bad rule file is reported then, before the scan's unit commits."""
    registry = registry or default_registry()
    config = load_config(find_config(explicit, env), env, channel_types=CHANNEL_TYPES)
    failed: list[InvalidInput] = []
    try:
        policies = load_policies(config.policy_paths, registry, _template_exists(config),
                                 PARAMS_CONTEXT)
    except InvalidInput as exc:
        failed.append(exc)
    rules: RuleSet = RuleSet()
    try:
        rules = RulesOnDemand(lambda: load_sigma(config)) if sigma_on_demand else load_sigma(config)
    except InvalidInput as exc:
        failed.append(exc)
    if failed:  # both reported in one run; one alone as it was raised (already cut to size)
        raise failed[0] if len(failed) == 1 else InvalidInput(
            [p for exc in failed for p in exc.problems])
    CLIENTS.resize(config.runtime.client_cache)  # AWS clients: one cache per process
    return Setup(config, policies, registry, rules)


def load_sigma(config: Config) -> RuleSet:
    """The Sigma rules `events.sigma` names, parsed and compiled; raises InvalidInput."""
    from costguard.activity.sigma_rules import compile_rules, severities
    from costguard.settings.sigma_files import read_rules, rule_paths

    sigma = config.events.sigma
    paths = rule_paths(config.path.parent if config.path else None, sigma.rules)
    found = read_rules(paths, sigma.exclude)
    rules, problems = compile_rules(found.rules, severities(sigma.levels))
    if found.problems or problems:
        raise InvalidInput([*found.problems, *problems])
    return rules


def find_and_read_config(explicit: str | Path | None,
                         env: Mapping[str, str] = os.environ) -> Config:
    """The config a command finds (-c, $COSTGUARD_CONFIG, the search path), without policies:
    for commands that need only the store, which a bad policy file must not lock out."""
    return load_config(find_config(explicit, env), env, channel_types=CHANNEL_TYPES)


def read_config(path: str | Path | None, env: Mapping[str, str] = os.environ) -> Config:
    """Just the config (validated with the shipped channel types), for tools and tests."""
    return load_config(Path(path) if path else None, env, channel_types=CHANNEL_TYPES)


def _template_exists(config: Config) -> Callable[[str], bool]:
    dirs = [*config.template_dirs, shipped_dir("templates")]
    return lambda name: any((Path(d) / name).is_file() for d in dirs)


def open_store(config: Config) -> Store:
    """The store at the config's database URL, migrated to the current schema."""
    from costguard.store import Store

    return Store.open(config.database_url)
