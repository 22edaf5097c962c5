"""The demo's narrative: baseline, attack, detection, delivery, fix, resolution, timeline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from costguard.demo import scenario


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _clock(at: datetime) -> str:
    return at.strftime("%H:%M:%S.") + f"{at.microsecond // 1000:03d}"


class Story:
    """Runs each act against the embedded AWS and keeps the timeline it prints."""

    def __init__(self, session: Any, root: Any, inbox: Any, config: Path, echo: Callable) -> None:
        from costguard.engine import Engine
        from costguard.setup_load import load_setup, open_store

        self.session, self.root, self.inbox, self.echo = session, root, inbox, echo
        self.config_path = config
        setup = load_setup(config)
        self.store = open_store(setup.config)
        self.engine = Engine(setup.config, setup.policies, self.store)
        self.timeline: list[tuple[datetime, str]] = []
        self.steps: list[Any] = []
        self.account = ""

    def note(self, text: str, at: datetime | None = None) -> None:
        """Add a line to the timeline."""
        self.timeline.append((at or _now(), text))

    def run(self) -> bool:
        """Every act in order; True when detection and delivery met the demo's bar."""
        try:
            self.baseline()
            self.steps = scenario.attack(self.session, self.root)
            for step in self.steps:
                self.note(f"attacker: {step.summary}", step.at)
            detected = self.detect()
            if detected:
                self.fix_and_verify()
            self.print_timeline()
            return detected
        finally:
            self.store.close()

    def baseline(self) -> None:
        """A clean account: the first cycle must raise nothing."""
        account = scenario.seed(self.session)
        result = self.engine.run_cycle()
        self.account = result.scan.accounts[0]
        self.note(
            f"baseline cycle: {len(account.instances)} approved instances, "
            f"{len(account.users)} console users with MFA; {len(result.evaluation.findings)} "
            f"findings, {result.enqueued} alerts ({result.scan.api_calls} AWS calls)"
        )

    def detect(self) -> bool:
        """The next cycle must raise the incident and deliver one alert naming everything."""
        result = self.engine.run_cycle()
        incidents = [i for i in result.incidents if i.resolved_at is None]
        for incident in incidents:
            self.note(f"detected: incident #{incident.id} [{incident.severity}] {incident.title} "
                      f"({len(incident.finding_ids)} findings)", incident.detected_at)
        if not self.inbox.wait_for(1):
            self.note("FAILED: no alert reached the SMTP server")
            return False
        arrived, path, message = self.inbox.messages()[0]
        self.note(f"alert delivered: {path.name} \"{message['subject']}\" to {message['to']}",
                  datetime.fromtimestamp(arrived, timezone.utc))
        return self._names_everything(message)

    def _names_everything(self, message: Any) -> bool:
        """The alert must name all ten instances and the root key (the issue's bar)."""
        text = message.get_body(("plain",)).get_content()
        ids = next(s for s in self.steps if s.name == "RunInstances").response["instanceIds"]
        missing = [i for i in ids if i not in text]
        root_named = f"arn:aws:iam::{self.account}:root" in text and "access key" in text.lower()
        if missing or not root_named:
            self.note(f"FAILED: alert misses {missing or ''} {'' if root_named else 'root key'}")
            return False
        self.note(f"alert names all {len(ids)} instances and the root access key")
        return True

    def fix_and_verify(self) -> None:
        """The responder follows the playbook; the next complete scan must resolve it."""
        for action in scenario.fix(self.session, self.root, self.steps):
            self.note(f"responder: {action}")
        result = self.engine.run_cycle()
        for incident in result.incidents:
            if incident.resolved_at is not None:
                self.note(f"verified fixed: incident #{incident.id} resolved", incident.resolved_at)
        if self.inbox.wait_for(2):
            arrived, path, message = self.inbox.messages()[1]
            self.note(f"resolution delivered: {path.name} \"{message['subject']}\"",
                      datetime.fromtimestamp(arrived, timezone.utc))

    def print_timeline(self) -> None:
        """What happened, when it was detected, what was sent."""
        self.echo("\ncostguard demo: the reference incident, replayed offline\n")
        start = min(at for at, _ in self.timeline)
        for at, text in sorted(self.timeline, key=lambda item: item[0]):
            self.echo(f"  {_clock(at)}  +{(at - start).total_seconds():6.2f}s  {text}")
        attack_end = max((s.at for s in self.steps), default=start)
        sent = [at for at, text in self.timeline if text.startswith("alert delivered")]
        if sent:
            self.echo(f"\nalert in the inbox {(sent[0] - attack_end).total_seconds():.2f} s after "
                      "the last attacker call (the daemon polls inventory every 60 s).")
        self.echo(f"emails: {self.inbox.folder}/   store: {self.config_path.parent}/costguard.db")
