"""A real SMTP server (aiosmtpd) that misbehaves on demand, and a TCP relay that cuts a
connection in the middle of DATA.

`FlakyInbox.mode`: "accept" stores each message; "refuse" answers DATA with 451 (a busy or
greylisting server) and stores nothing; "drop-after-data" stores the message and closes the
connection before answering, so the client never hears the 250 (the mail server has it, the
sender cannot know). `CuttingRelay` sits between costguard and the server and, while `cut` is
set, forwards only the first bytes of the message after DATA and then closes both sides: the
server never stores it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

ACCEPT, REFUSE, DROP_AFTER_DATA = "accept", "refuse", "drop-after-data"


class _Handler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.mode = ACCEPT
        self.stored: list[Path] = []
        self.refused = 0
        self.dropped = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.mode == REFUSE:
                self.refused += 1
                return "451 4.3.0 mail system busy, try again later"
            path = self.folder / f"{len(self.stored) + 1:03d}.eml"
            path.write_bytes(envelope.original_content or envelope.content)
            self.stored.append(path)
            if self.mode == DROP_AFTER_DATA:
                self.dropped += 1
                server.transport.close()  # stored, but the 250 never reaches the client
        return "250 OK"


class FlakyInbox:
    """The server on a free port of 127.0.0.1; `messages()` parses what it stored."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.handler = _Handler(folder)
        self._controller: Any = None

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def mode(self) -> str:
        return self.handler.mode

    @mode.setter
    def mode(self, value: str) -> None:
        self.handler.mode = value

    def __enter__(self) -> FlakyInbox:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self.handler, hostname="127.0.0.1", port=_free_port())
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def messages(self) -> list[EmailMessage]:
        parser = BytesParser(policy=policy.default)
        return [parser.parsebytes(p.read_bytes()) for p in self.handler.stored]


class CuttingRelay:
    """TCP relay to `port`; while `cut` is set, a connection is closed 200 bytes into DATA."""

    KEEP = 200

    def __init__(self, port: int) -> None:
        self.target = port
        self.cut = False
        self.cuts = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def close(self) -> None:
        self._stop.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(client, server, self.cut),
                             daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, cutting: bool) -> None:
        seen, in_data, sent = b"", False, 0
        try:
            while chunk := source.recv(65536):
                if cutting and in_data:
                    room = self.KEEP - sent
                    sink.sendall(chunk[:room])
                    sent += min(room, len(chunk))
                    if sent >= self.KEEP:
                        self.cuts += 1
                        break
                    continue
                sink.sendall(chunk)
                seen = (seen + chunk)[-16:]
                in_data = in_data or seen.upper().endswith(b"DATA\r\n")
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
