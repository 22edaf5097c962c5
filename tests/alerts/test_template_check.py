"""`costguard validate`: templates render with realistic data; secrets resolve; exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from costguard.cli.main import main


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_shipped_setup_validates() -> None:
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: built-in defaults")


def test_template_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path / "tpl" / "remediation" / "broken.md.j2", "line one\n{% if x %}\nno end\n")
    write(tmp_path / "policies.yml", """\
policies:
  - name: root-key
    check: root_access_key
    remediation: remediation/broken.md.j2
""")
    config = write(tmp_path / "costguard.yml", "policies: [policies.yml]\ntemplates: [tpl]\n")
    result = CliRunner().invoke(main, ["validate", "-c", str(config)])
    assert result.exit_code == 2
    template = tmp_path / "tpl" / "remediation" / "broken.md.j2"
    assert result.stderr.startswith(f"{template}:3:1: template syntax error: ")
    assert "Traceback" not in result.output


def test_template_failing_on_sample_data_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "tpl" / "remediation" / "typo.md.j2",
          "{% for f in findings %}{{ f.detials.key }}{% endfor %}\n")
    write(tmp_path / "policies.yml", """\
policies:
  - name: root-key
    check: root_access_key
    remediation: remediation/typo.md.j2
""")
    config = write(tmp_path / "costguard.yml", "policies: [policies.yml]\ntemplates: [tpl]\n")
    result = CliRunner().invoke(main, ["validate", "-c", str(config)])
    assert result.exit_code == 2
    assert "typo.md.j2:1:1: template fails with sample data: " in result.stderr
    assert "detials" in result.stderr


@pytest.mark.parametrize("password_env", ["COSTGUARD_TEST_UNSET"])
def test_unset_secret_fails_validate(tmp_path: Path, password_env: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(password_env, raising=False)
    config = write(tmp_path / "costguard.yml", f"""\
notifiers:
  mail:
    type: smtp
    host: smtp.example.com
    username: costguard
    password_env: {password_env}
    from: costguard@example.com
    to: [secops@example.com]
""")
    result = CliRunner().invoke(main, ["validate", "-c", str(config)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"{config}:2:3: notifier 'mail': password_env names ${password_env}, which is not set")
    monkeypatch.setenv(password_env, "s3cret")
    assert CliRunner().invoke(main, ["validate", "-c", str(config)]).exit_code == 0
