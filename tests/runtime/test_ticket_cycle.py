"""Whole engine cycles on moto with a GitHub ticket channel (the local stand-in of its API):
the incident's one issue is filed with the ARNs, closed when the fix is seen, and reopened when
the same problem comes back; every cycle runs in a freshly built engine on the same database."""

from __future__ import annotations

from pathlib import Path

import pytest

from costguard.runtime.bootstrap import load_setup
from tests.notifiers.ticket_vendors import GitHub, serving
from tests.runtime.test_cycle import (  # noqa: F401  (fixtures)
    EAST,
    POLICIES,
    ROOT,
    account,
    clock,
    make_engine,
)


def test_an_incident_keeps_one_github_issue_through_fix_and_recurrence(
        account, tmp_path: Path, make_engine, clock, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    vendor = GitHub()
    monkeypatch.setenv("GITHUB_TOKEN", vendor.token)
    (tmp_path / "policies.yml").write_text(POLICIES)
    with serving(vendor) as url:
        (tmp_path / "costguard.yml").write_text(
            f"aws: {{regions: [{EAST}]}}\n"
            f"database: {{url: 'sqlite:///{tmp_path}/costguard.db'}}\n"
            "policies: [policies.yml]\n"
            f"notifiers:\n  gh: {{type: github, repo: acme/security, api_url: '{url}', "
            "token_env: GITHUB_TOKEN}\n")
        setup = load_setup(tmp_path / "costguard.yml")
        make_engine(setup).run_cycle()
        attack = account.attack()
        make_engine(setup).run_cycle()
        (issue,) = vendor.issues.values()
        body = issue.fields["body"].replace("\\", "")
        assert all(arn in body for arn in attack.arns()) and ROOT in body
        assert "aws ec2 stop-instances" in body  # the first remediation commands

        account.fix(attack)
        clock.advance(minutes=5)
        make_engine(setup).run_cycle()
        assert issue.state == "closed" and len(issue.comments) == 1

        account.root.key_active = (True, None)  # the root key is back the next day
        clock.advance(days=1)
        make_engine(setup).run_cycle()
    assert len(vendor.issues) == 1 and issue.state == "open"
    assert issue.history == ["closed", "open"]
    assert vendor.problems == []
