"""Local stand-ins for Jira (Cloud v3 and Data Center v2), GitHub and ServiceNow.

Each is a real HTTP server on 127.0.0.1 (http.server in a thread) that checks every request
against the vendor's documented shape (method, path, auth header, required fields, ADF for
Jira v3, the limits the vendors enforce) and answers as the vendor does. A request that does not
fit is answered 400 and recorded in `problems`, which every test asserts empty. `fail_next`
queues answers (401, 404, 429 with Retry-After, 5xx) for the next requests.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, dict[str, str], Any]

ADF_NODES = {"doc", "paragraph", "heading", "bulletList", "listItem", "codeBlock", "text",
             "hardBreak"}


class Bad(Exception):
    """The request does not fit the vendor's documented shape."""


def need(condition: bool, what: str) -> None:
    if not condition:
        raise Bad(what)


def check_adf(node: Any, top: bool = True) -> None:
    """A node as ADF (version 1) allows: known types, non-empty text, content lists."""
    need(isinstance(node, dict), "ADF node must be an object")
    kind = node.get("type")
    need(kind in ADF_NODES, f"ADF node type {kind!r} not allowed here")
    if top:
        need(kind == "doc" and node.get("version") == 1, "ADF must be a version 1 doc")
    if kind == "text":
        need(isinstance(node.get("text"), str) and node["text"] != "", "ADF text node empty")
        return
    if kind == "hardBreak":
        return
    content = node.get("content", [])
    need(isinstance(content, list), "ADF content must be a list")
    if kind == "heading":
        need(node.get("attrs", {}).get("level") in range(1, 7), "heading level 1-6")
    if kind == "bulletList":
        need(all(c.get("type") == "listItem" for c in content), "bulletList holds listItems")
    for child in content:
        check_adf(child, top=False)


@dataclass
class Vendor:
    """What every stand-in shares: recorded requests, problems, queued failures."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    queued: list[Answer] = field(default_factory=list)
    seen_auth: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)

    def fail_next(self, status: int, headers: dict[str, str] | None = None,
                  body: Any = None) -> None:
        self.queued.append((status, headers or {}, body if body is not None else
                            {"message": f"injected {status}"}))

    def answer(self, method: str, path: str, query: dict[str, list[str]],
               headers: dict[str, str], body: Any) -> Answer:
        raise NotImplementedError

    def count(self, method: str | None = None) -> int:
        return sum(1 for m, _ in self.requests if method in (None, m))


@dataclass
class Ticket:
    id: str
    key: str
    fields: dict[str, Any]
    state: str = "open"
    comments: list[Any] = field(default_factory=list)
    history: list[str] = field(default_factory=list)


@dataclass
class Jira(Vendor):
    """Jira Cloud (version 3) or Data Center (version 2)."""

    version: int = 3
    user: str = "bot@example.com"
    token: str = "jira-T0KEN-xyz"
    issues: dict[str, Ticket] = field(default_factory=dict)

    def _auth(self, headers: dict[str, str]) -> bool:
        if self.version == 3:
            good = "Basic " + base64.b64encode(f"{self.user}:{self.token}".encode()).decode()
        else:
            good = f"Bearer {self.token}"
        return headers.get("authorization") == good

    def _text(self, value: Any, what: str) -> None:
        if self.version == 3:
            check_adf(value)
        else:
            need(isinstance(value, str), f"{what} must be wiki text in v2")

    def answer(self, method: str, path: str, query: dict[str, list[str]],
               headers: dict[str, str], body: Any) -> Answer:
        if not self._auth(headers):
            return 401, {}, {"errorMessages": ["You are not authenticated."]}
        api = f"/rest/api/{self.version}"
        need(path.startswith(api + "/"), f"path {path} outside {api}")
        rest = path[len(api):]
        if method == "POST" and rest == "/issue":
            return self._create(body)
        if rest in ("/search/jql", "/search"):
            need((method, rest) in {("POST", "/search/jql")} if self.version == 3
                 else (method, rest) == ("GET", "/search"), f"{method} {rest} is not search")
            jql = body["jql"] if method == "POST" else query["jql"][0]
            match = re.fullmatch(r'project = "(\w+)" AND labels = "([\w.-]+)" ORDER BY created',
                                 jql)
            need(match is not None, f"unexpected JQL {jql!r}")
            assert match is not None
            found = [t for t in self.issues.values() if match[2] in t.fields["labels"]]
            issues = [{"id": t.id, "key": t.key, "self": f"x/{t.id}"} for t in found]
            return 200, {}, {"issues": issues, "isLast": True}
        edited = re.fullmatch(r"/issue/(\d+)", rest)
        if method == "PUT" and edited:
            issue = self.issues.get(edited[1])
            if issue is None:
                return 404, {}, {"errorMessages": ["Issue does not exist"]}
            need(set(body) == {"fields"} and set(body["fields"]) == {"priority"}, "edit priority")
            need(bool(body["fields"]["priority"].get("name")), "priority.name")
            issue.fields["priority"] = body["fields"]["priority"]
            return 204, {}, None
        found_issue = re.fullmatch(r"/issue/(\d+)/(comment|transitions)", rest)
        need(found_issue is not None, f"unknown path {path}")
        assert found_issue is not None
        issue = self.issues.get(found_issue[1])
        if issue is None:
            return 404, {}, {"errorMessages": ["Issue does not exist or you do not have "
                                               "permission to see it."]}
        if found_issue[2] == "comment":
            need(method == "POST" and set(body) == {"body"}, "comment takes {body}")
            self._text(body["body"], "comment body")
            issue.comments.append(body["body"])
            return 201, {}, {"id": str(len(issue.comments))}
        offered = ([{"id": "31", "name": "Done"}] if issue.state == "open"
                   else [{"id": "41", "name": "Reopen"}])
        if method == "GET":
            return 200, {}, {"transitions": offered}
        need(method == "POST", "transitions: GET or POST")
        wanted = body.get("transition", {}).get("id")
        need(wanted in {t["id"] for t in offered}, f"transition {wanted} not offered")
        issue.state = "done" if wanted == "31" else "open"
        issue.history.append(issue.state)
        return 204, {}, None

    def _create(self, body: Any) -> Answer:
        fields = body.get("fields", {})
        need(fields.get("project", {}).get("key") == "SEC", "project.key")
        need(bool(fields.get("issuetype", {}).get("name")), "issuetype.name")
        summary = fields.get("summary")
        need(isinstance(summary, str) and 0 < len(summary) <= 255, "summary 1-255 chars")
        need("\n" not in summary and "\r" not in summary, "summary is one line")
        self._text(fields.get("description"), "description")
        labels = fields.get("labels", [])
        need(all(isinstance(x, str) and " " not in x and len(x) <= 255 for x in labels),
             "labels are words")
        number = len(self.issues) + 1
        ticket = Ticket(str(10000 + number), f"SEC-{number}", fields)
        self.issues[ticket.id] = ticket
        return 201, {}, {"id": ticket.id, "key": ticket.key, "self": f"x/{ticket.id}"}


@dataclass
class GitHub(Vendor):
    """GitHub's issues REST API for repository acme/security."""

    token: str = "ghp_S3CRETtoken"
    issues: dict[str, Ticket] = field(default_factory=dict)

    def answer(self, method: str, path: str, query: dict[str, list[str]],
               headers: dict[str, str], body: Any) -> Answer:
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {}, {"message": "Bad credentials"}
        need(headers.get("accept") == "application/vnd.github+json", "Accept header")
        need(bool(headers.get("user-agent")), "User-Agent is required")
        need(headers.get("x-github-api-version") == "2022-11-28", "API version header")
        base = "/repos/acme/security/issues"
        need(path.startswith(base), f"unknown path {path}")
        rest = path[len(base):]
        if rest == "" and method == "POST":
            title = body.get("title")
            need(isinstance(title, str) and 0 < len(title) <= 256, "title 1-256 chars")
            need(len(body.get("body", "")) <= 65536, "body at most 65536 chars")
            need(all(len(x) <= 50 for x in body.get("labels", [])), "label names <= 50")
            number = str(len(self.issues) + 1)
            self.issues[number] = Ticket(number, f"#{number}", body)
            return 201, {}, self._issue(self.issues[number])
        if rest == "" and method == "GET":
            wanted = query.get("labels", [""])[0]
            need(query.get("state") == ["all"], "list with state=all")
            return 200, {}, [self._issue(t) for t in self.issues.values()
                             if wanted in t.fields.get("labels", [])]
        match = re.fullmatch(r"/(\d+)(/comments|/labels)?", rest)
        need(match is not None, f"unknown path {path}")
        assert match is not None
        issue = self.issues.get(match[1])
        if issue is None:
            return 404, {}, {"message": "Not Found"}
        if match[2] == "/labels":
            need(method == "POST" and isinstance(body.get("labels"), list), "labels {labels}")
            need(all(isinstance(x, str) and len(x) <= 50 for x in body["labels"]), "names")
            issue.fields["labels"] = [*issue.fields.get("labels", []), *body["labels"]]
            return 200, {}, [{"name": x} for x in issue.fields["labels"]]
        if match[2]:
            need(method == "POST" and isinstance(body.get("body"), str), "comment {body}")
            issue.comments.append(body["body"])
            return 201, {}, {"id": len(issue.comments), "body": body["body"]}
        need(method == "PATCH", "issue update is PATCH")
        pairs = {("closed", "completed"), ("open", "reopened")}
        need((body.get("state"), body.get("state_reason")) in pairs, f"state change {body}")
        issue.state = body["state"]
        issue.history.append(issue.state)
        return 200, {}, self._issue(issue)

    @staticmethod
    def _issue(t: Ticket) -> dict[str, Any]:
        return {"id": 900 + int(t.id), "number": int(t.id), "state": t.state,
                "html_url": f"https://github.com/acme/security/issues/{t.id}",
                "labels": [{"name": x} for x in t.fields.get("labels", [])]}


@dataclass
class ServiceNow(Vendor):
    """The Table API of table `incident`."""

    user: str = "costguard"
    password: str = "sn0w-PASS word"
    records: dict[str, Ticket] = field(default_factory=dict)

    def answer(self, method: str, path: str, query: dict[str, list[str]],
               headers: dict[str, str], body: Any) -> Answer:
        good = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if headers.get("authorization") != good:
            return 401, {}, {"error": {"message": "User Not Authenticated",
                                       "detail": "Required to provide Auth information"},
                             "status": "failure"}
        need(headers.get("accept") == "application/json", "Accept: application/json")
        base = "/api/now/table/incident"
        need(path.startswith(base), f"unknown path {path}")
        rest = path[len(base):]
        if rest == "" and method == "POST":
            short = body.get("short_description")
            need(isinstance(short, str) and 0 < len(short) <= 160, "short_description <= 160")
            need(body.get("urgency") in {"1", "2", "3"}, "urgency 1-3")
            need(body.get("impact") in {"1", "2", "3"}, "impact 1-3")
            need(bool(body.get("correlation_id")), "correlation_id")
            sys_id = f"{len(self.records) + 1:032x}"
            number = f"INC{10000 + len(self.records) + 1:07d}"
            self.records[sys_id] = Ticket(sys_id, number, body, state="1")
            return 201, {}, {"result": {"sys_id": sys_id, "number": number}}
        if rest == "" and method == "GET":
            match = re.fullmatch(r"correlation_id=([\w.-]+)", query["sysparm_query"][0])
            need(match is not None, "query by correlation_id")
            assert match is not None
            found = [{"sys_id": t.id, "number": t.key, "state": t.state}
                     for t in self.records.values() if t.fields["correlation_id"] == match[1]]
            return 200, {}, {"result": found}
        record = self.records.get(rest.lstrip("/"))
        if record is None:
            return 404, {}, {"error": {"message": "No Record found",
                                       "detail": "Record doesn't exist or ACL restricts"},
                             "status": "failure"}
        need(method == "PATCH", "update is PATCH")
        if body.get("state") == "6":
            need(bool(body.get("close_code")) and bool(body.get("close_notes")),
                 "Resolved needs close_code and close_notes")
            record.comments.append(body["close_notes"])
        else:
            need(isinstance(body.get("work_notes"), str), "work_notes")
            record.comments.append(body["work_notes"])
        for name in ("urgency", "impact"):
            if name in body:
                need(body[name] in {"1", "2", "3"}, f"{name} 1-3")
                record.fields[name] = body[name]
        if "state" in body:
            record.state = body["state"]
            record.history.append(body["state"])
        return 200, {}, {"result": {"sys_id": record.id, "number": record.key,
                                    "state": record.state}}


def _handler(vendor: Vendor) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _any(self) -> None:
            url = urlsplit(self.path)
            vendor.requests.append((self.command, url.path))
            headers = {k.lower(): v for k, v in self.headers.items()}
            vendor.seen_auth.append(headers.get("authorization", ""))
            raw = self.rfile.read(int(headers.get("content-length") or 0))
            vendor.bodies.append(raw.decode("utf-8", "replace"))
            try:
                body = json.loads(raw) if raw else {}
                if self.command in ("POST", "PATCH", "PUT"):
                    need(headers.get("content-type", "").startswith("application/json"),
                         "Content-Type: application/json")
                if vendor.queued:
                    status, extra, payload = vendor.queued.pop(0)
                else:
                    status, extra, payload = vendor.answer(
                        self.command, url.path, parse_qs(url.query), headers, body)
            except (Bad, KeyError, TypeError, AttributeError, ValueError) as exc:
                vendor.problems.append(f"{self.command} {url.path}: {exc}")
                status, extra, payload = 400, {}, {"message": f"bad request: {exc}"}
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = _any

    return Handler


@contextmanager
def serving(vendor: Vendor) -> Iterator[str]:
    """Serve `vendor` on a free port of 127.0.0.1; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(vendor))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
