"""Per-channel delivery metrics and the channels' part of /healthz, from plain records."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from costguard.runtime.metrics import channel_problems, delivery_families
from costguard.store.delivery_stats import ChannelDelivery

EMAIL = ChannelDelivery(channel="email", sent=4, failed=7, dead=2, backlog=1,
                        recent=(False, False, False), last_error="smtp: connection refused")
TICKETS = ChannelDelivery(channel="tickets", sent=3, recent=(True,))


class Fixed:
    """A collector of the given families, to render them as a scrape would."""

    def __init__(self, families) -> None:
        self.families = list(families)

    def collect(self):
        return self.families


def scrape(*channels: ChannelDelivery) -> set[str]:
    registry = CollectorRegistry()
    registry.register(Fixed(delivery_families(channels)))
    return set(generate_latest(registry).decode().splitlines())


def test_each_channel_has_its_sends_failures_dead_and_backlog() -> None:
    lines = scrape(EMAIL, TICKETS)

    assert {
        'costguard_notifications_sent_total{channel="email"} 4.0',
        'costguard_notification_failures_total{channel="email"} 7.0',
        'costguard_notifications_dead{channel="email"} 2.0',
        'costguard_outbox_backlog{channel="email"} 1.0',
        'costguard_notifications_sent_total{channel="tickets"} 3.0',
        'costguard_notification_failures_total{channel="tickets"} 0.0',
    } <= lines
    assert "# TYPE costguard_notifications_sent_total counter" in lines
    assert "# TYPE costguard_outbox_backlog gauge" in lines


def test_a_channel_failing_its_last_three_sends_or_holding_dead_messages_is_named() -> None:
    assert channel_problems([EMAIL, TICKETS]) == [
        "notifier email: the last 3 sends failed: smtp: connection refused",
        "notifier email: 2 message(s) given up on (costguard outbox list --dead)",
    ]


def test_a_channel_that_recovered_and_holds_nothing_dead_is_healthy() -> None:
    recovered = ChannelDelivery(channel="email", sent=1, failed=9, recent=(True, False, False))
    young = ChannelDelivery(channel="email", failed=2, recent=(False, False))

    assert channel_problems([recovered, young]) == []
