"""A real SMTP server (aiosmtpd) on a free port of 127.0.0.1 that keeps what it accepts and
can be told to refuse, for the runtime tests that send through `costguard`'s SMTP channel."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email.parser import BytesParser
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller


class Mailbox:
    """aiosmtpd handler: answers DATA with 451 while `refusing`, else keeps the message."""

    def __init__(self, *, refusing: bool = False) -> None:
        self.refusing = refusing
        self.received: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusing:
            return "451 4.3.0 mail system busy, try later"
        self.received.append(envelope.original_content or envelope.content)
        return "250 2.0.0 OK"

    def message_ids(self) -> list[str]:
        parser = BytesParser(policy=default)
        return [str(parser.parsebytes(data)["Message-ID"]) for data in self.received]


@contextmanager
def smtp_server(handler: Any) -> Iterator[int]:
    """Serve `handler` on a free port; yields the port."""
    for _ in range(5):  # another process may take the probed port first: probe again
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        try:
            controller.start()
        except OSError:
            continue
        try:
            yield port
        finally:
            controller.stop()
        return
    raise RuntimeError("no free port for the test SMTP server")
