"""A local HTTP server that plays a vendor's API: checks each request's shape, answers as the
vendor does.

Each test server gets a `check(request) -> list[str]` that names what is wrong with a request by
the vendor's documentation (method, path, headers, required fields, limits); a wrong request is
answered 400 as the vendor would and recorded in `problems`, which every test asserts empty. A
test scripts the next answers (`answer(429, headers={"Retry-After": "120"})`) to see how a
channel reads them; otherwise the server answers the vendor's success.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Request:
    """One request exactly as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed, as the vendor parses it."""
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    """One scripted answer."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Check = Callable[[Request], list[str]]


@dataclass
class VendorServer:
    """What one test server received and what it will answer next."""

    url: str
    check: Check
    success: Answer
    requests: list[Request] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)

    def answer(self, status: int, body: str = "", headers: dict[str, str] | None = None) -> None:
        """Answer the next request with this instead of success."""
        self.script.append(Answer(status, body.encode(), headers or {}))

    def respond(self, request: Request) -> Answer:
        self.requests.append(request)
        wrong = self.check(request)
        if wrong:
            self.problems.extend(wrong)
            return Answer(400, json.dumps({"errors": wrong}).encode(),
                          {"Content-Type": "application/json"})
        return self.script.pop(0) if self.script else self.success


@contextmanager
def vendor_server(check: Check, success: Answer, path: str = "/") -> Iterator[VendorServer]:
    """A server on 127.0.0.1 that checks every request with `check`."""
    state: dict[str, VendorServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Request("POST", self.path, {k.lower(): v for k, v in self.headers.items()},
                              self.rfile.read(length))
            self._send(state["server"].respond(request))

        def do_GET(self) -> None:
            request = Request("GET", self.path, dict(self.headers), b"")
            self._send(state["server"].respond(request))

        def _send(self, answer: Answer) -> None:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host, port = httpd.server_address[:2]
    state["server"] = VendorServer(f"http://{host}:{port}{path}", check, success)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["server"]
    finally:
        httpd.shutdown()
        httpd.server_close()


def common_problems(request: Request, path: str) -> list[str]:
    """What every vendor here insists on: a POST of JSON to its path."""
    problems = []
    if request.method != "POST":
        problems.append(f"method {request.method}, expected POST")
    if request.path != path:
        problems.append(f"path {request.path}, expected {path}")
    if not request.headers.get("content-type", "").startswith("application/json"):
        problems.append(f"content-type {request.headers.get('content-type')!r}")
    try:
        request.json()
    except ValueError:
        problems.append("body is not JSON")
    return problems
