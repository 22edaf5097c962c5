"""A small HTTP proxy in front of moto_server that injects AWS faults, request by request.

costguard reaches it through AWS_ENDPOINT_URL like any endpoint. Each request is read, shown
to a `rule` (which sees the service, region and operation, taken from the request as botocore
signs and encodes it), and either forwarded to moto_server unchanged or answered with a fault:
an error in the shape the service's protocol documents (so botocore parses it as AWS's own and
applies its retry rules), an HTTP 500, a connection held and then closed with no answer (an
endpoint that stopped responding), or a request never answered at all, until the client's read
timeout gives up on it.

Error shapes (AWS's documented wire formats): EC2 query `Response/Errors/Error/Code`; other
query services (IAM, STS) `ErrorResponse/Error/Code`; JSON protocols (Cost Explorer, SQS,
CloudTrail, ...) a body `{"__type": CODE, "message": ...}`; REST-JSON (GuardDuty) the
`x-amzn-ErrorType` header; REST-XML (S3) `Error/Code`.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass(frozen=True)
class Call:
    """One request as the rule sees it."""

    service: str
    region: str
    operation: str
    protocol: str
    """ec2, query, json, rest-json or rest-xml."""


@dataclass(frozen=True)
class Fault:
    """What to answer instead of forwarding: an AWS error, a bare HTTP status, or a hang."""

    status: int = 400
    code: str = ""
    message: str = "injected by the fault proxy"
    hang_s: float = 0.0
    silent: bool = False
    """With `hang_s`: hold the request unanswered until the client gives up and closes the
    connection (a read timeout), or `hang_s` passes, whichever is first."""


Rule = Callable[[Call], Fault | None]


def describe(headers: dict[str, str], body: bytes) -> Call:
    """Service, region and operation of a signed AWS request, and its protocol."""
    scope = _SCOPE.search(headers.get("authorization", ""))
    region, service = scope.groups() if scope else ("", "")
    target = headers.get("x-amz-target", "")
    form = headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    if target:
        return Call(service, region, target.rsplit(".", 1)[-1], "json")
    if form:
        action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
        return Call(service, region, action, "ec2" if service == "ec2" else "query")
    return Call(service, region, "", "rest-xml" if service == "s3" else "rest-json")


def error_response(call: Call, fault: Fault) -> tuple[dict[str, str], bytes]:
    """Headers and body of `fault` in the protocol of `call`."""
    code, message = fault.code, fault.message
    if not code:
        return {"Content-Type": "text/plain"}, b"Internal Server Error"
    if call.protocol == "ec2":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}"
                f"</Code><Message>{message}</Message></Error></Errors><RequestID>fault</RequestID>"
                "</Response>")
        return {"Content-Type": "text/xml"}, body.encode()
    if call.protocol == "query":
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}"
                "</Message></Error><RequestId>fault</RequestId></ErrorResponse>")
        return {"Content-Type": "text/xml"}, body.encode()
    if call.protocol == "rest-xml":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        return {"Content-Type": "application/xml"}, body.encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}
    return headers, f'{{"__type": "{code}", "message": "{message}"}}'.encode()


class _QuietServer(ThreadingHTTPServer):
    """A client killed mid-request (the SIGKILL tests) is expected, not a traceback."""

    def handle_error(self, request: object, client_address: object) -> None:
        return


class FaultProxy:
    """The proxy on a free port of 127.0.0.1; `rule` may be swapped between runs."""

    def __init__(self, upstream: str, rule: Rule | None = None) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.rule: Rule = rule or (lambda call: None)
        self.injected: Counter[str] = Counter()
        self.forwarded = 0
        self.abandoned = 0
        """Silent hangs the client gave up on (or that reached their limit)."""
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self, rule: Rule | None = None) -> None:
        with self._lock:
            self.rule = rule or (lambda call: None)
            self.injected.clear()
            self.forwarded = 0
            self.abandoned = 0

    def _decide(self, call: Call) -> Fault | None:
        with self._lock:
            fault = self.rule(call)
            if fault is None:
                self.forwarded += 1
            else:
                self.injected[fault.code or str(fault.status) if not fault.hang_s else "hang"] += 1
            return fault

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes
                 ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port,
                                                timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k not in ("host", "connection")}
            connection.request(method, path, body=body, headers=sent)
            answer = connection.getresponse()
            return answer.status, answer.getheaders(), answer.read()
        finally:
            connection.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                return

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                call = describe(headers, body)
                fault = proxy._decide(call)
                if fault is not None and fault.hang_s:
                    if fault.silent:
                        self._until_closed(fault.hang_s)
                    else:
                        time.sleep(fault.hang_s)
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if fault is not None:
                    extra, payload = error_response(call, fault)
                    self._reply(fault.status, list(extra.items()), payload)
                    return
                status, answer_headers, payload = proxy._forward(self.command, self.path,
                                                                 headers, body)
                kept = [(k, v) for k, v in answer_headers
                        if k.lower() not in ("transfer-encoding", "connection", "content-length",
                                             "server", "date")]
                self._reply(status, kept, payload)

            def _until_closed(self, limit_s: float) -> None:
                """Read nothing, answer nothing: wait for the client's end of the socket."""
                self.connection.settimeout(limit_s)
                try:
                    while self.connection.recv(4096):
                        pass
                except OSError:
                    pass
                with proxy._lock:
                    proxy.abandoned += 1

            def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        return Handler
