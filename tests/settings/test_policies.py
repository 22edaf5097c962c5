"""Policy files -> Policy objects, and every problem in them as one exact `FILE:LINE:COL:` line.

Each `bad/NAME.yml` (or `bad/NAME/` folder) sits beside `bad/NAME.expected`, the exact lines a
user sees; `{known_checks}` in an expected line stands for the registry's ids, so adding a check
does not rewrite these files. Files are loaded by relative path from `bad/`, as a user naming
them in costguard.yml would see them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import Field

from costguard.checks import default_registry
from costguard.checks.base import Check, Context, Params, Registry
from costguard.checks.hourly_spend import HourlySpendParams
from costguard.checks.instance_types import InstanceTypesParams
from costguard.cli.main import main
from costguard.model import Finding, Severity, Source
from costguard.runtime.bootstrap import PARAMS_CONTEXT
from costguard.settings.paths import default_policy_file, shipped_dir
from costguard.settings.policies import Policy, PolicyLoader, load_policies, policy_files
from costguard.settings.problems import InvalidInput
from costguard.snapshot import Snapshot

HERE = Path(__file__).parent
BAD, GOOD = HERE / "policies" / "bad", HERE / "policies" / "good"
EXPECTED = sorted(BAD.glob("*.expected"))

REGISTRY = default_registry()


def shipped_template(name: str) -> bool:
    """What `costguard validate` accepts as a remediation template: a shipped one."""
    return (shipped_dir("templates") / name).is_file()


def expected_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8").replace("{known_checks}", ", ".join(REGISTRY.ids()))
    return text.splitlines()


def problems_of(paths: Iterable[Path], **kwargs: object) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        load_policies(list(paths), REGISTRY, **kwargs)  # type: ignore[arg-type]
    return [str(p) for p in caught.value.problems]


def names(policies: Iterable[Policy]) -> list[str]:
    return [p.name for p in policies]


def test_every_bad_input_has_its_expected_lines_and_every_expected_file_its_input():
    inputs = {p.stem for p in BAD.iterdir() if p.suffix == ".yml" or p.is_dir()}

    assert inputs == {p.stem for p in EXPECTED}
    assert len(inputs) >= 20


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda p: p.stem)
def test_bad_policy_file_is_reported_line_by_line_exactly(
    expected: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(BAD)
    source = Path(expected.stem) if (BAD / expected.stem).is_dir() else Path(expected.stem + ".yml")

    with pytest.raises(InvalidInput) as caught:
        load_policies([source], REGISTRY, template_exists=shipped_template,
                      params_context=PARAMS_CONTEXT)

    lines = expected_lines(expected)
    assert [str(p) for p in caught.value.problems] == lines
    assert str(caught.value) == "\n".join(lines)
    assert all(line.startswith(str(source)) for line in lines)


def test_the_example_in_the_style_guide_comes_out_word_for_word(monkeypatch):
    monkeypatch.chdir(BAD)

    lines = problems_of([Path("param_string_for_list.yml")])

    assert lines == [
        "param_string_for_list.yml:14:7: policy 'no-gpu': params.allowed: "
        "expected a list, got a string"
    ]


def test_a_folder_loads_its_yml_and_yaml_files_in_name_order_and_skips_disabled_entries(
    monkeypatch,
):
    monkeypatch.chdir(GOOD)

    policies = load_policies([Path("folder")], REGISTRY, template_exists=shipped_template)

    # a-security.yml, then b-spend.yml (without the disabled gpu-watch), then c-network.yaml;
    # README.txt is not read.
    assert names(policies) == ["root-mfa", "user-mfa", "hourly-spend", "open-admin-ports"]
    assert [p.file for p in policies] == [
        "folder/a-security.yml", "folder/a-security.yml", "folder/b-spend.yml",
        "folder/c-network.yaml",
    ]
    assert policy_files([Path("folder")]) == [
        Path("folder/a-security.yml"), Path("folder/b-spend.yml"), Path("folder/c-network.yaml")
    ]


def test_a_disabled_entry_is_still_validated(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text(
        "policies:\n"
        "  - name: gpu-watch\n"
        "    check: instance_types\n"
        "    enabled: false\n"
        "    params: {denied: p*}\n",
        encoding="utf-8",
    )

    assert problems_of([path]) == [
        f"{path}:5:14: policy 'gpu-watch': params.denied: expected a list, got a string"
    ]


def test_every_entry_key_reaches_the_policy(monkeypatch):
    monkeypatch.chdir(GOOD)

    no_gpu, root_key = load_policies(
        [Path("every_key.yml")], REGISTRY, template_exists=shipped_template)

    assert no_gpu == Policy(
        name="no-gpu",
        check="instance_types",
        severity=Severity.MEDIUM,
        params=InstanceTypesParams(
            allowed=("t3.*", "m6i.large"), regions={"eu-west-1": {"denied": ["p*"]}}
        ),
        remediation="remediation/instance_types.md.j2",
        references=("CIS AWS Foundations 1.4", "internal SEC-12"),
        file="every_key.yml",
        line=3,
        auto_contain=True,
    )
    # Only the required keys: the check's own severity and default params.
    assert root_key.severity is REGISTRY.get("root_access_key").severity
    assert root_key.params == REGISTRY.get("root_access_key").Params()
    assert (root_key.remediation, root_key.references, root_key.line) == (None, (), 16)
    assert root_key.auto_contain is False


def test_auto_contain_is_off_on_or_a_dry_run(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text(
        "policies:\n"
        "  - {name: a, check: root_mfa, auto_contain: dry_run}\n"
        "  - {name: b, check: root_mfa, auto_contain: true}\n"
        "  - {name: c, check: root_mfa}\n",
        encoding="utf-8",
    )

    assert [p.auto_contain for p in load_policies([path], REGISTRY)] == ["dry_run", True, False]


def test_params_are_the_checks_own_model_with_its_defaults_filled_in(monkeypatch):
    monkeypatch.chdir(GOOD)

    policies = {p.name: p for p in load_policies([Path("folder")], REGISTRY)}

    assert policies["hourly-spend"].params == HourlySpendParams(max_usd_per_hour=2.5)
    assert policies["hourly-spend"].params.spike_factor == HourlySpendParams().spike_factor


def test_merge_keys_may_override_what_they_merge(monkeypatch):
    monkeypatch.chdir(GOOD)

    strict, relaxed = load_policies([Path("merge_keys.yml")], REGISTRY)

    assert (strict.name, strict.severity, strict.params.require_hardware) == (
        "hardware-root-mfa", Severity.CRITICAL, True,
    )
    assert (relaxed.name, relaxed.check, relaxed.severity, relaxed.params.require_hardware) == (
        "any-root-mfa", "root_mfa", Severity.LOW, False,
    )


def test_a_name_merged_in_unchanged_is_a_duplicate_reported_at_the_second_entry(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text(
        "policies:\n"
        "  - &base {name: root-mfa, check: root_mfa}\n"
        "  - <<: *base\n"
        "    severity: low\n",
        encoding="utf-8",
    )

    assert problems_of([path]) == [
        f"{path}:3:5: policy 'root-mfa': name: duplicate policy name (first at {path}:2)"
    ]


def test_two_entries_on_one_line_with_one_name_are_duplicates(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text(
        "policies: [{name: mfa, check: root_mfa}, {name: mfa, check: user_mfa}]\n",
        encoding="utf-8",
    )

    assert problems_of([path]) == [
        f"{path}:1:43: policy 'mfa': name: duplicate policy name (first at {path}:1)"
    ]


def test_duplicate_names_in_two_files_given_separately_name_the_first_place(monkeypatch):
    monkeypatch.chdir(BAD / "duplicate_across")

    lines = problems_of([Path("20-team.yml"), Path("10-base.yml")])

    # Given in this order, the team file is first and the base file has the duplicate.
    assert lines == [
        "10-base.yml:4:5: policy 'no-gpu': name: duplicate policy name (first at 20-team.yml:5)"
    ]


def test_problems_in_several_files_come_together_in_load_order(monkeypatch):
    monkeypatch.chdir(BAD)

    lines = problems_of([Path("unknown_entry_key.yml"), Path("bad_severity.yml")])

    assert lines == [
        *expected_lines(BAD / "unknown_entry_key.expected"),
        *expected_lines(BAD / "bad_severity.expected"),
    ]


def test_a_policy_file_that_does_not_exist_is_a_problem_not_an_empty_list(tmp_path):
    missing = tmp_path / "nope.yml"

    assert problems_of([missing]) == [f"{missing}:1:1: policy file not found"]


def test_a_file_that_is_not_utf8_is_a_problem_at_the_first_bad_byte(tmp_path):
    path = tmp_path / "latin1.yml"
    path.write_bytes(b"policies:\n  - name: caf\xe9\n")

    assert problems_of([path]) == [f"{path}:2:14: not UTF-8 text (invalid continuation byte)"]


def test_without_a_template_check_any_remediation_name_is_accepted(monkeypatch):
    monkeypatch.chdir(BAD)

    (policy, _) = load_policies([Path("missing_template.yml")], REGISTRY)

    assert policy.remediation == "remediation/root-mfa.md.j2"


def test_the_shipped_policies_load_with_their_templates():
    policies = load_policies([default_policy_file()], REGISTRY, template_exists=shipped_template)

    assert policies and all(REGISTRY.get(p.check) for p in policies)
    assert len(set(names(policies))) == len(policies)
    assert all(p.file == str(default_policy_file()) for p in policies)


class _Noop(Check):
    """A check for an injected registry: the loader must not depend on the shipped checks."""

    class Params(Params):
        """Parameters of `noop`."""

        limit: int = Field(3, description="a number")

    id = "noop"
    title = "Does nothing"
    severity = Severity.LOW
    sources = (Source.INVENTORY,)
    remediation = "remediation/noop.md.j2"

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        return ()


def test_the_loader_takes_its_checks_and_templates_from_what_it_is_given(tmp_path):
    registry = Registry()
    registry.register(_Noop)
    path = tmp_path / "p.yml"
    path.write_text(
        "policies:\n"
        "  - {name: a, check: noop, params: {limit: 9}, remediation: mine.j2}\n"
        "  - {name: b, check: root_mfa}\n",
        encoding="utf-8",
    )
    loader = PolicyLoader(registry, template_exists={"mine.j2"}.__contains__)

    with pytest.raises(InvalidInput) as caught:
        loader.load([path])

    assert [str(p) for p in caught.value.problems] == [
        f"{path}:3:15: policy 'b': check: unknown check 'root_mfa' (known: noop)"
    ]
    good = PolicyLoader(registry, template_exists={"mine.j2"}.__contains__)
    path.write_text("policies:\n  - {name: a, check: noop, params: {limit: 9}}\n", "utf-8")
    (policy,) = good.load([path])
    assert (policy.severity, policy.params) == (Severity.LOW, _Noop.Params(limit=9))


def test_validate_prints_the_policy_problems_and_exits_2(tmp_path, monkeypatch):
    """The CLI end to end: a config naming a bad policy file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "mine.yml").write_bytes((BAD / "several_problems.yml").read_bytes())
    (tmp_path / "costguard.yml").write_text("policies: [policies/]\n", encoding="utf-8")

    result = CliRunner().invoke(main, ["validate", "-c", "costguard.yml"])

    expected = [
        line.replace("several_problems.yml", "policies/mine.yml")
        for line in expected_lines(BAD / "several_problems.expected")
    ]
    assert result.exit_code == 2
    assert result.stderr.splitlines() == expected
    assert result.stdout == ""
    assert isinstance(result.exception, SystemExit)
