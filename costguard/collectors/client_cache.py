"""The botocore clients of every AWS identity of a process, least recently used first out.

A botocore client costs about 1.2 MiB once made and 17 ms of CPU to make (botocore builds a
client class with a method per operation for each one). The daemon used to keep every client
of every account x region for ever: 0.5 GB at 100 accounts x 4 regions. One cache for the whole
process (every account's `Aws` shares it) bounds that to `runtime.client_cache` clients; an
evicted client is made again on its next use, and since clients copy their session's event
handlers when made, a remade client is counted and logged as the first one was.

The cache only holds clients; making one is the `Aws`'s business (under that Aws's lock: a
boto3 session is not thread-safe when it creates clients), so a slow client creation in one
account never blocks a lookup in another.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict, deque
from collections.abc import Hashable
from typing import Any

DEFAULT_LIMIT = 256
"""Clients kept by default (at most about 300 MiB): enough for an Organization of about 50
accounts x 4 regions to remake nothing between cycles. An inventory cycle sweeps every account
x region in turn, the pattern under which an LRU smaller than the sweep keeps nothing useful
(measured at 64 for 206 clients: three times the CPU a cycle), so the default leans to memory
for common estates and still caps the 2 GB that 100 accounts x 17 regions would hold."""

Key = tuple[int, str, str]
"""(owner, service, region): `owner` is the number an Aws draws from `new_owner()`."""

_owners = itertools.count(1)


def new_owner() -> int:
    """A number no other Aws of this process has (an id() could be reused once one is freed)."""
    return next(_owners)


class ClientCache:
    """An LRU of clients with a size limit; every method is thread-safe."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._lock = threading.Lock()
        self._clients: OrderedDict[Hashable, Any] = OrderedDict()
        self._limit = _checked(limit)
        self._freed: deque[int] = deque()
        self.evicted = 0

    @property
    def limit(self) -> int:
        """How many clients are kept at most."""
        return self._limit

    def resize(self, limit: int) -> None:
        """Keep at most `limit` clients from now on (the oldest go at once if there are more)."""
        with self._lock:
            self._limit = _checked(limit)
            self._evict()

    def get(self, key: Key) -> Any:
        """The client cached under `key` (now the most recently used), or None."""
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
            return client

    def put(self, key: Key, client: Any) -> None:
        """Cache a client, evicting the least recently used beyond the limit."""
        with self._lock:
            self._clients[key] = client
            self._clients.move_to_end(key)
            self._evict()

    def pop(self, key: Key) -> None:
        """Forget one client."""
        with self._lock:
            self._clients.pop(key, None)

    def forget(self, owner: int) -> None:
        """Forget every client of one Aws (released)."""
        with self._lock:
            self._drop(owner)

    def forget_later(self, owner: int) -> None:
        """Forget an Aws's clients at the next use of the cache: what a garbage-collected Aws's
        finalizer calls. It takes no lock, as a collection can run (and call it) in any thread,
        also in one that holds this cache's lock while it allocates."""
        self._freed.append(owner)

    def clear(self) -> None:
        """Forget every client (a test starts from an empty cache)."""
        with self._lock:
            self._clients.clear()

    def order(self) -> list[Hashable]:
        """The cached keys, least recently used first."""
        with self._lock:
            self._drop_freed()
            return list(self._clients)

    def __len__(self) -> int:
        with self._lock:
            self._drop_freed()
            return len(self._clients)

    def _drop(self, owner: int) -> None:
        for key in [k for k in self._clients if k[0] == owner]:
            del self._clients[key]

    def _drop_freed(self) -> None:
        while self._freed:
            self._drop(self._freed.popleft())

    def _evict(self) -> None:
        self._drop_freed()
        while len(self._clients) > self._limit:
            self._clients.popitem(last=False)
            self.evicted += 1


def _checked(limit: int) -> int:
    if limit < 1:
        raise ValueError(f"a client cache holds at least 1 client, not {limit}")
    return limit


CLIENTS = ClientCache()
"""The process's one cache, shared by every Aws (`runtime.client_cache` sets its limit)."""
