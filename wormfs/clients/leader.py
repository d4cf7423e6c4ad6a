"""Clients layer: finding the leading coordinator (leader discovery for every client).

Layer: clients, under ``wormfs.clients.coordinator``. ``LeaderLocator`` is an
``wormfs.internal.http.InternalClient`` (same ``call`` and ``request``) whose ``base_url`` is
the coordinator it believes leads; it sends each request there, learning from three sources:

1. ZooKeeper, when ``zookeeper_hosts`` is set: a ``LeaderWatch`` follows the leader znode
   (``wormfs.internal.leader``), so the locator usually knows the leader before it asks;
2. ``NotLeaderError`` answers: a follower names the leader (``X-Wormfs-Leader``), and the
   request goes there at once;
3. the list of coordinator URLs (``coordinator_url`` = "http://a:7000,http://b:7000"): when a
   coordinator is unreachable, or is a follower that knows no leader yet (an election is
   under way), the next URL is tried; after a full round without an answer the locator backs
   off (capped exponential delay) before the next round.

Failover is bounded by ``failover_timeout`` seconds per request; after that the last error
is raised (``UnavailableError`` or ``NotLeaderError``, both 503). With a single URL and no
ZooKeeper there is nothing to fail over to: unreachable means ``UnavailableError`` at once, as
before, and only a follower's redirect is followed.

What is retried: ``NotLeaderError`` (the follower did nothing, so any request may be re-sent),
and plain ``UnavailableError`` (connection refused or reset, timeout). A request that timed
out may have been carried out by a coordinator that then died: like any client of a
replicated service, callers of non-idempotent operations must expect that rare case (a
repeated commit answers ``ConflictError``). Errors the leader answered with (including the
``UnavailableError`` subclasses that are real answers, such as ``InsufficientDisksError``)
are never retried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp

from wormfs.errors import NotLeaderError, UnavailableError, WormError
from wormfs.internal.http import InternalClient
from wormfs.internal.leader import LeaderWatch

log = logging.getLogger(__name__)

FAILOVER_TIMEOUT = 20.0
MIN_BACKOFF = 0.05
MAX_BACKOFF = 1.0
ZOOKEEPER_WAIT = 2.0  # how long a first request waits for ZooKeeper to name the leader


def parse_urls(value: str) -> list[str]:
    """Base URLs from a comma-separated ``coordinator_url`` setting."""
    return [u.strip().rstrip("/") for u in value.split(",") if u.strip()]


class LeaderLocator(InternalClient):
    """An ``InternalClient`` whose ``base_url`` is the coordinator believed to lead."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        urls: list[str],
        secret: bytes,
        *,
        zookeeper_hosts: str = "",
        zookeeper_path: str = "/wormfs",
        failover_timeout: float = FAILOVER_TIMEOUT,
    ) -> None:
        super().__init__(session, urls[0] if urls else "", secret)
        self._urls = list(urls)
        self._clients: dict[str, InternalClient] = {}
        self._watch = LeaderWatch(zookeeper_hosts, zookeeper_path) if zookeeper_hosts else None
        self._failover = len(self._urls) > 1 or self._watch is not None
        self._timeout = failover_timeout
        self._failed = ""  # the last coordinator that did not answer as leader

    def _client(self, url: str) -> InternalClient:
        client = self._clients.get(url)
        if client is None:
            client = self._clients[url] = InternalClient(self.session, url, self._secret)
        return client

    async def _target(self) -> str:
        if self._watch is not None:
            if not self._watch.started:
                self._watch.start()
            record = self._watch.leader
            if record is None and not self.base_url:
                record = await self._watch.wait(ZOOKEEPER_WAIT)
            # ZooKeeper's record outlives a killed leader by up to a session timeout: once its
            # address failed, go by the URL list and redirects until the record changes.
            if record is not None and (record.address != self._failed or not self.base_url):
                return record.address
        if not self.base_url:
            raise UnavailableError("no coordinator is configured, or known to lead")
        return self.base_url

    def _next_url(self, failed: str) -> str:
        """The URL after ``failed`` in the configured list (the first if it is not listed)."""
        if not self._urls:
            return failed
        try:
            return self._urls[(self._urls.index(failed) + 1) % len(self._urls)]
        except ValueError:
            return self._urls[0]

    async def request(self, method: str, path: str, **kwargs: Any) -> bytes:
        """``InternalClient.request`` against the leader, failing over as described above
        (``call`` comes from ``InternalClient`` and goes through here)."""
        deadline = time.monotonic() + self._timeout
        backoff = MIN_BACKOFF
        misses = 0  # consecutive coordinators that did not lead (or answer)
        while True:
            url = ""
            try:
                url = await self._target()
                payload = await self._client(url).request(method, path, **kwargs)
            except NotLeaderError as exc:
                error: WormError = exc
                hint = exc.leader.rstrip("/")
                if hint and hint != url:
                    log.info("%s is not the leader; asking %s", url, hint)
                    self.base_url = hint
                else:
                    self.base_url = self._next_url(url)
            except UnavailableError as exc:
                if type(exc) is not UnavailableError or not self._failover:
                    raise  # a real answer (e.g. InsufficientDisksError), or nowhere else to go
                error = exc
                self.base_url = self._next_url(url)
            else:
                self.base_url = url
                self._failed = ""
                return payload
            self._failed = url
            if not self._failover and not (isinstance(error, NotLeaderError) and error.leader):
                raise error
            misses += 1
            if misses >= max(1, len(self._urls)):
                # A full round found no leader: an election is under way. Wait a little.
                misses = 0
                if time.monotonic() + backoff >= deadline:
                    raise error
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            elif time.monotonic() >= deadline:
                raise error

    async def close(self) -> None:
        if self._watch is not None:
            await self._watch.close()
