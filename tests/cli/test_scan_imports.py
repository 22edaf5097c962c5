"""What a one-shot scan loads before it has read AWS: neither SQLAlchemy and the tables (the
store reuses the memory boto3's models free), nor pySigma and the rules (no event may need
them), nor Jinja2 (`--no-notify` renders nothing), nor httpx and slack-sdk (nothing is sent
before AWS is read). Each of these once raised the scan's peak memory against a bare boto3
script (docs/benchmarks.md); a fresh interpreter shows it."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from costguard.cli import options
from costguard.runtime import bootstrap, cycle
setup = bootstrap.load_setup(None, sigma_on_demand=True)
engine = cycle.Engine(setup.config, setup.policies, None, registry=setup.registry,
                      sigma_rules=setup.sigma_rules)
try:
    options.bad_input_exits_2(lambda: None)()
except SystemExit:
    pass
print(sorted(m for m in ("sqlalchemy", "sigma", "jinja2", "alembic", "httpx", "slack_sdk")
             if m in sys.modules))
"""


def test_a_scan_loads_no_store_rules_or_templates_before_reading_aws(tmp_path):
    answer = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                            cwd=tmp_path, check=True)
    assert answer.stdout.strip() == "[]", answer.stderr
