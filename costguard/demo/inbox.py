"""A real SMTP server on 127.0.0.1 that writes every message it receives to `DIR/NNN.eml`.

The demo sends its alert through costguard's real SMTP channel to this server, so what lands in
the outbox folder is exactly what a mail server would have received.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from costguard.clock import utcnow


class _Handler:
    """aiosmtpd handler: store each DATA as an .eml file, numbered in arrival order."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.received: list[tuple[datetime, Path]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            path = self.folder / f"{len(self.received) + 1:03d}.eml"
            path.write_bytes(envelope.original_content or envelope.content)
            self.received.append((utcnow(), path))
        return "250 OK"


class Inbox:
    """Context manager running the server; `messages()` parses what arrived."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.handler = _Handler(self.folder)
        self._port = port
        self._controller: Any = None

    @property
    def port(self) -> int:
        """The port the server listens on (the one asked for, else chosen free at start)."""
        return int(self._controller.port)

    def __enter__(self) -> Inbox:
        from aiosmtpd.controller import Controller

        port = self._port or _free_port()
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=port)
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def wait_for(self, count: int, timeout_s: float = 10.0) -> bool:
        """Whether `count` messages arrived within the timeout (delivery is asynchronous)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self.handler.received) >= count:
                return True
            time.sleep(0.02)
        return len(self.handler.received) >= count

    def messages(self) -> list[tuple[datetime, Path, EmailMessage]]:
        """(arrival time, file, parsed message) for each message received so far."""
        parser = BytesParser(policy=policy.default)
        return [(at, path, parser.parsebytes(path.read_bytes())) for at, path in
                self.handler.received]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
