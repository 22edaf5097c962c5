"""The two addresses a config gives: the database URL and where the daemon serves /metrics.

Both used to be read as plain strings and fail later: `notadb://x` when the store was opened,
`127.0.0.1:99999` when the daemon bound its port (a crash loop under systemd). They are checked
here, when the config is loaded, with a message that says what to write instead.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import re

from costguard.settings.yaml_loader import shown

SQLITE_EXAMPLE = "sqlite:////var/lib/costguard/costguard.db"
POSTGRES_EXAMPLE = "postgresql://costguard@db.internal/costguard"
POSTGRES_EXTRA = "pip install 'costguard[postgres]'"

DRIVERS: dict[str, dict[str, tuple[str, ...]]] = {
    # dialect -> driver named in the URL ("" for none) -> modules, any one of which will do
    "sqlite": {"": ("sqlite3",), "pysqlite": ("sqlite3",)},
    "postgresql": {"": ("psycopg", "psycopg2"), "psycopg": ("psycopg",),
                   "psycopg2": ("psycopg2",)},
}
"""What the store can open. A plain postgresql:// URL uses psycopg 3 (the `postgres` extra), or
psycopg2 where only that is installed (the store picks the driver the same way)."""

_URL = re.compile(r"(?P<dialect>\w+)(?:\+(?P<driver>\w+))?://(?P<rest>.*)", re.DOTALL)


def check_database_url(url: str) -> str:
    """`url` when the store can open that kind of database here; a ValueError saying what to
    write otherwise. Whether the server answers is the store's question, not the config's."""
    match = _URL.fullmatch(url)
    if match is None:
        raise ValueError(f"expected a database URL such as {SQLITE_EXAMPLE} or "
                         f"{POSTGRES_EXAMPLE}, got {shown(_masked(url))}")
    dialect, driver = match["dialect"].lower(), (match["driver"] or "").lower()
    drivers = DRIVERS.get("postgresql" if dialect == "postgres" else dialect)
    if drivers is None:
        raise ValueError(f"unsupported database {shown(dialect)}: costguard keeps its store in "
                         f"SQLite ({SQLITE_EXAMPLE}) or PostgreSQL ({POSTGRES_EXAMPLE})")
    if dialect == "postgres":
        raise ValueError("write postgresql://, not postgres:// (SQLAlchemy reads only the first)")
    if driver not in drivers:
        named = " or ".join(f"{dialect}+{d}://" for d in drivers if d)
        raise ValueError(f"unsupported driver {shown(driver)}: use {dialect}:// or {named}")
    if dialect == "sqlite" and match["rest"].split("?")[0] in ("", "/", "/:memory:"):
        raise ValueError(f"an in-memory SQLite database keeps nothing: name a file, e.g. "
                         f"{SQLITE_EXAMPLE}")
    _check_driver(drivers[driver])
    return url


def _check_driver(modules: tuple[str, ...]) -> None:
    if any(importlib.util.find_spec(m) is not None for m in modules):
        return
    if modules == ("sqlite3",):
        raise ValueError("this Python was built without sqlite3: use PostgreSQL, or a Python "
                         "with SQLite support")
    raise ValueError(f"the PostgreSQL driver {modules[0]} is not installed: {POSTGRES_EXTRA}")


def _masked(url: str) -> str:
    """The URL with any password replaced, for a message."""
    return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)


_HOST = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")
LISTEN_EXAMPLE = "127.0.0.1:9465"


def parse_listen(value: str) -> tuple[str, int]:
    """(host, port) of a `host:port`, `[v6]:port` or `:port` (every interface) address; port 0
    takes any free port. A ValueError saying what to write otherwise."""
    host, colon, port = value.rpartition(":")
    if not colon or not port.isascii() or not port.isdigit():
        raise ValueError(f"expected host:port such as {LISTEN_EXAMPLE}, got {shown(value)}")
    if int(port) > 65535:
        raise ValueError(f"port {int(port)} is out of range: give 1 to 65535, or 0 for any "
                         "free port")
    return _host(host), int(port)


def _host(host: str) -> str:
    if host.startswith("[") and host.endswith("]"):
        try:
            return str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            raise ValueError(f"{shown(host)} is not an IPv6 address") from None
    if ":" in host:
        raise ValueError(f"write an IPv6 address in brackets, e.g. [::1]:9465, not {shown(host)}")
    if host and len(host) <= 253 and _HOST.fullmatch(host):
        return host
    if host:
        raise ValueError(f"{shown(host)} is not a host name or IP address")
    return host
