"""The demo's narrative: baseline, attack, detection, delivery, fix, resolution, timeline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from costguard.clock import utcnow
from costguard.demo import attack_records, scenario


def _clock(at: datetime) -> str:
    return at.strftime("%H:%M:%S.") + f"{at.microsecond // 1000:03d}"


class Story:
    """Runs each act against the embedded AWS and keeps the timeline it prints."""

    def __init__(self, session: Any, root: Any, inbox: Any, config: Path, echo: Callable) -> None:
        from costguard.runtime.bootstrap import load_setup, open_store
        from costguard.runtime.cycle import Engine

        self.session, self.root, self.inbox, self.echo = session, root, inbox, echo
        self.config_path = config
        setup = load_setup(config)
        self.store = open_store(setup.config)
        self.engine = Engine(setup.config, setup.policies, self.store, registry=setup.registry)
        self.timeline: list[tuple[datetime, str]] = []
        self.steps: list[Any] = []
        self.account = ""

    def note(self, text: str, at: datetime | None = None) -> None:
        """Add a line to the timeline."""
        self.timeline.append((at or utcnow(), text))

    def run(self) -> bool:
        """Every act in order; True when detection and delivery met the demo's bar."""
        try:
            self.baseline()
            self.steps = scenario.attack(self.session, self.root)
            for step in self.steps:
                self.note(f"attacker: {step.summary}", step.at)
            published = attack_records.publish(self.session, self.steps, self.account, utcnow())
            self.note(f"EventBridge: {published} CloudTrail and GuardDuty events on their way "
                      "to the queue (GuardDuty: traffic to a Monero pool on TCP 7777)")
            detected = self.detect()
            if detected:
                self.fix_and_verify()
            self.write_reports()
            self.print_timeline()
            return detected
        finally:
            self.store.close()

    def baseline(self) -> None:
        """A clean account with the event pipeline set up: the first cycle must raise nothing."""
        from costguard.actions.event_pipeline import apply, plan

        account = scenario.seed(self.session)
        aws = self.engine.aws
        apply(plan(aws, aws.account_id(), ["us-east-1"], self.engine.config.events.queue_name))
        self.note("costguard setup events: SQS queue and EventBridge rules in us-east-1")
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
                  arrived)
        return self._names_everything(message)

    def expected_names(self) -> dict[str, str]:
        """Everything the one alert must name: the demo's bar."""
        made = {s.name: s for s in self.steps}
        names = {f"instance {i}": i for i in made["RunInstances"].response["instanceIds"]}
        names.update({
            "the root principal": f"arn:aws:iam::{self.account}:root",
            "the root access key": scenario.ROOT_KEY_ID,
            "the source IP": scenario.ATTACKER_IP,
            "the Go SDK user agent": scenario.ATTACKER_AGENT,
            "the key pair": scenario.MINER_KEY,
            "the security group": made["CreateSecurityGroup"].response["groupId"],
        })
        return names

    def _names_everything(self, message: Any) -> bool:
        """The alert must name the key, IP, agent, key pair, group and all ten instances."""
        text = message.get_body(("plain",)).get_content()
        missing = [label for label, value in self.expected_names().items() if value not in text]
        if missing:
            self.note(f"FAILED: the alert does not name {', '.join(missing)}")
            return False
        self.note("the alert names the root key, the source IP, the Go SDK user agent, the key "
                  "pair, the security group and all 10 instances")
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
                      arrived)

    def write_reports(self) -> None:
        """The demo's week as the weekly email and the compliance report, from its store."""
        from costguard.reports.compliance import as_csv, compliance_rows, controls
        from costguard.reports.week import IsoWeek
        from costguard.reports.weekly_email import build_weekly_message
        from costguard.reports.weekly_send import week_figures

        engine, out, now = self.engine, self.config_path.parent, utcnow()
        week = IsoWeek.containing(now, engine.config.schedule.zone)
        figures = week_figures(self.store, week, engine.config, engine.registry,
                               engine.policies, now)
        message = build_weekly_message(figures, engine.notifier.renderer)
        (out / "report-weekly.html").write_text(message.html, encoding="utf-8")
        (out / "report-weekly.txt").write_text(message.text, encoding="utf-8")
        checks = controls(engine.registry, engine.policies)
        rows = compliance_rows(checks, self.store.judged_resources(), self.store.list_findings())
        (out / "compliance.csv").write_text(as_csv(rows), encoding="utf-8")
        self.note(f"reports: report-weekly.html (posture {figures.score}%) and compliance.csv "
                  f"({len(rows)} check x resource rows)")

    def print_timeline(self) -> None:
        """What happened, when it was detected, what was sent."""
        self.echo("\ncostguard demo: the reference incident, replayed offline\n")
        start = min(at for at, _ in self.timeline)
        for at, text in sorted(self.timeline, key=lambda item: item[0]):
            self.echo(f"  {_clock(at)}  +{(at - start).total_seconds():6.2f}s  {text}")
        first = min((s.at for s in self.steps), default=start)
        sent = [at for at, text in self.timeline if text.startswith("alert delivered")]
        if sent:
            self.echo(f"\ndetection latency: the alert was in the inbox "
                      f"{(sent[0] - first).total_seconds():.2f} s after the first attacker call "
                      "(the daemon reads the event queue continuously; inventory every 60 s).")
        self.print_stats()
        self.echo(f"\nemails: {self.inbox.folder}/   after-action review: "
                  f"{self.engine.config.reports_dir}/   store: {self.config_path.parent}/"
                  f"costguard.db\nthen: costguard stats -c {self.config_path}")

    def print_stats(self) -> None:
        """Alert-to-fix, as `costguard stats` reports it from the demo's store."""
        from datetime import timedelta

        from costguard.incidents.stats import stats_rows, stats_table
        from costguard.text import table

        target = timedelta(minutes=self.engine.config.incidents.target_minutes)
        rows = stats_rows(self.store.list_incidents(), target, utcnow())
        header, *body = stats_table(rows, target)
        self.echo("\nalert-to-fix (costguard stats):")
        self.echo(table(body, header))
