"""Real SMTP servers (aiosmtpd) for the channel tests: plain, with AUTH, STARTTLS and implicit TLS.

Each server records what arrived exactly as the wire carried it, so tests parse the bytes the
way a mail client would rather than trusting what the client library meant to send.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER = "costguard"
SMTP_PASSWORD = "s3cret pass:word"


@dataclass(frozen=True)
class Received:
    """One message as the server received it, with how the client got there."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    login: str | None
    tls_version: str | None

    def parsed(self) -> EmailMessage:
        """The message as a mail client parses it."""
        message = BytesParser(policy=default).parsebytes(self.data)
        assert isinstance(message, EmailMessage)
        return message


REFUSED_RCPT = "nobody@example.com"
"""A recipient every test server refuses, as a server refuses an unknown mailbox."""


class RecordingHandler:
    """aiosmtpd handler that keeps every envelope it accepts."""

    def __init__(self) -> None:
        self.received: list[Received] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address == REFUSED_RCPT:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        ssl_object = server.transport.get_extra_info("ssl_object")
        auth = session.auth_data if session.authenticated else None
        self.received.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=envelope.original_content or envelope.content,
                login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
                tls_version=ssl_object.version() if ssl_object else None,
            )
        )
        return "250 2.0.0 OK"


def check_password(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    """aiosmtpd authenticator accepting only SMTP_USER / SMTP_PASSWORD."""
    ok = (
        isinstance(data, LoginPassword)
        and data.login == SMTP_USER.encode()
        and data.password == SMTP_PASSWORD.encode()
    )
    # handled=False lets aiosmtpd answer "535 ... credentials invalid" itself on failure.
    return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


@dataclass
class SmtpServer:
    """A running test server: where it listens, what it received, which CA it chains to.

    Tests read the accepted credentials and the refused recipient from here rather than
    importing this conftest, which is not importable by name once tests/ holds packages.
    """

    host: str
    port: int
    handler: RecordingHandler
    ca_file: Path | None = None
    username: str = SMTP_USER
    password: str = SMTP_PASSWORD
    refused_rcpt: str = REFUSED_RCPT

    @property
    def received(self) -> list[Received]:
        """Messages accepted so far, oldest first."""
        return self.handler.received


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(**kwargs: Any) -> Iterator[SmtpServer]:
    handler = RecordingHandler()
    for _ in range(5):
        # Another process may take the probed port before the server binds it: try another.
        port = free_port()
        controller = Controller(
            handler, hostname="127.0.0.1", port=port, server_hostname="smtp.test", **kwargs
        )
        try:
            controller.start()
        except OSError:
            continue
        try:
            yield SmtpServer(host="127.0.0.1", port=port, handler=handler)
        finally:
            controller.stop()
        return
    raise RuntimeError("no free port for the test SMTP server")


@dataclass(frozen=True)
class Certificate:
    """A throwaway self-signed certificate for 127.0.0.1 and localhost."""

    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        """What the test server presents."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """Made at test time with `cryptography`, which moto (a test dependency) requires."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "costguard test SMTP")])
    now = dt.datetime.now(dt.timezone.utc)
    alt_names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file, key_file)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """Plain SMTP, no AUTH: a local relay."""
    yield from _start()


@pytest.fixture
def smtp_auth_server() -> Iterator[SmtpServer]:
    """Plain SMTP that requires AUTH (allowed without TLS only because this is a test)."""
    yield from _start(
        authenticator=check_password, auth_required=True, auth_require_tls=False
    )


@pytest.fixture
def smtp_starttls_server(certificate: Certificate) -> Iterator[SmtpServer]:
    """Requires STARTTLS before anything, and AUTH only over TLS, like a submission port."""
    for server in _start(
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=check_password,
        auth_required=True,
    ):
        server.ca_file = certificate.cert_file
        yield server


@pytest.fixture
def smtp_tls_server(certificate: Certificate) -> Iterator[SmtpServer]:
    """Implicit TLS from the first byte, like port 465."""
    for server in _start(ssl_context=certificate.server_context()):
        server.ca_file = certificate.cert_file
        yield server


@pytest.fixture
def closed_port() -> int:
    """A local port with no server, for connection-refused tests."""
    return free_port()
