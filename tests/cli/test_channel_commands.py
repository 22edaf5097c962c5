"""`notify test` through an HTTP channel, and a webhook that refuses for good showing in
`outbox list --dead`, with its secret nowhere in the output."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from costguard.cli.main import main
from costguard.model import AlertKind
from costguard.notifiers.delivery import deliver_due
from costguard.runtime.bootstrap import read_config
from costguard.store import Store
from tests.notifiers.channel_messages import messages
from tests.notifiers.test_webhook_ses_apprise import SECRET, signed_document
from tests.notifiers.vendor_http import Answer, vendor_server

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "costguard.yml"
    path.write_text(f"database: {{url: 'sqlite:///{tmp_path}/cg.db'}}\n"
                    f"notifiers:\n  hook: {{type: webhook, url: '{url}', "
                    "secret_env: HOOK_SECRET}\n")
    return path


def test_notify_test_sends_a_signed_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    with vendor_server(signed_document, Answer(200), "/costguard") as server:
        result = CliRunner().invoke(main, ["notify", "test", "hook", "-c",
                                           str(config(tmp_path, server.url))])
    assert result.exit_code == 0, result.output
    assert server.problems == [] and len(server.requests) == 1
    assert "sample" in server.requests[0].json()["title"]


def test_a_refused_message_is_dead_and_listed(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    with vendor_server(signed_document, Answer(200), "/costguard") as server:
        path = config(tmp_path, server.url)
        cfg = read_config(path, env={"HOOK_SECRET": SECRET})
        (cls, params), = cfg.notifiers.values()
        new = messages()[AlertKind.NEW]
        with Store.open(cfg.database_url) as store:
            store.enqueue(key=new.key, channel="hook", message=new, now=T0)
            server.answer(410, f"gone (secret {SECRET})")
            deliver_due(store, {"hook": cls("hook", params, {"HOOK_SECRET": SECRET})}, now=T0)
    listed = CliRunner().invoke(main, ["outbox", "list", "--dead", "-c", str(path)],
                                terminal_width=200)
    assert listed.exit_code == 0, listed.output
    assert "hook" in listed.output and "HTTP 410" in listed.output
    assert SECRET not in listed.output
