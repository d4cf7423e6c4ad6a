"""Where the leading coordinator is published in ZooKeeper, for the coordinators that elect one
and the clients (gateways, storage nodes) that follow it.

Layer: internal (beside auth and HTTP: how processes find the leader; one small format). Contract:

* Under ``zookeeper_path`` (e.g. ``/wormfs``) live ``election/`` (kazoo's lock recipe: one
  ephemeral sequential znode per coordinator, the lowest one leads) and ``leader``, an
  ephemeral znode the leader creates once it holds the leader epoch. Its data is one JSON
  object, ``LeaderRecord``: ``{"address": "http://host:port", "epoch": 7}``. Ephemeral means
  ZooKeeper removes it when the leader's session ends, so a stale address does not outlive
  its coordinator by more than the session timeout.
* ``new_kazoo_client`` builds a client whose reconnects back off to at most one second (kazoo's
  default grows to an hour) and whose commands give up after a few attempts, so callers on
  the event loop see failures instead of a thread stuck retrying.
* ``LeaderWatch`` follows the leader znode from a kazoo thread and hands every change to the
  event loop with ``call_soon_threadsafe``: kazoo's callbacks run on its own threads, and
  nothing there may touch asyncio objects directly.

kazoo is an optional dependency (extra ``zookeeper``); it is imported only when ZooKeeper is
configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec

log = logging.getLogger(__name__)

ELECTION_NODE = "election"
LEADER_NODE = "leader"
RECONNECT_MAX_DELAY = 1.0
COMMAND_TRIES = 3


class LeaderRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    """The data of the ``leader`` znode (``admin`` left out when empty: the older shape)."""

    address: str
    epoch: int
    admin: str = ""  # the leader's admin API base URL ("" when it serves none)


def election_path(root: str) -> str:
    return f"{root.rstrip('/')}/{ELECTION_NODE}"


def leader_path(root: str) -> str:
    return f"{root.rstrip('/')}/{LEADER_NODE}"


def encode_record(record: LeaderRecord) -> bytes:
    return msgspec.json.encode(record)


def decode_record(data: bytes | None) -> LeaderRecord | None:
    """The record in a leader znode's data; None for no node or unreadable data."""
    if not data:
        return None
    try:
        return msgspec.json.decode(data, type=LeaderRecord)
    except (msgspec.ValidationError, msgspec.DecodeError):
        log.warning("unreadable leader record in ZooKeeper: %r", data[:200])
        return None


def new_kazoo_client(hosts: str, session_timeout: float) -> Any:
    """A KazooClient for ``hosts`` (not started)."""
    from kazoo.client import KazooClient
    from kazoo.retry import KazooRetry

    return KazooClient(
        hosts=hosts,
        timeout=session_timeout,
        connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=RECONNECT_MAX_DELAY),
        command_retry=KazooRetry(max_tries=COMMAND_TRIES, delay=0.1, max_delay=1.0),
    )


def post(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    """From a kazoo thread: run ``callback(*args)`` on ``loop`` (dropped if it is closed)."""
    with contextlib.suppress(RuntimeError):  # the loop closed while kazoo was shutting down
        loop.call_soon_threadsafe(callback, *args)


class LeaderWatch:
    """Follows the leader znode of one WormFS cluster (clients' side of discovery).

    ``start()`` connects in the background (it never waits for ZooKeeper); ``leader`` is the
    newest record seen, None while there is none; ``wait(timeout)`` waits for one. The kazoo
    client reconnects by itself for as long as the watch runs; ``close()`` stops it.
    """

    def __init__(self, hosts: str, root: str, session_timeout: float = 10.0) -> None:
        self._hosts = hosts
        self._path = leader_path(root)
        self._session_timeout = session_timeout
        self._client: Any = None
        # Two threads: closing must not queue behind a watch that is still waiting to connect.
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="leader-watch")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None
        self._watching = False
        self.leader: LeaderRecord | None = None

    @property
    def started(self) -> bool:
        return self._client is not None

    def start(self) -> None:
        if self._client is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._client = new_kazoo_client(self._hosts, self._session_timeout)
        self._client.add_listener(self._on_state)
        self._client.start_async()  # connects on kazoo's thread; we hear of it in _on_state

    def _on_state(self, state: str) -> None:  # kazoo thread
        if state == "CONNECTED" and not self._watching and self._loop is not None:
            self._watching = True
            # DataWatch fetches the node at once (blocking until connected) and re-registers
            # itself after reconnects and session loss: start it off both kazoo's and the
            # event loop's threads.
            with contextlib.suppress(RuntimeError):  # executor shut down: closing
                self._executor.submit(self._watch)

    def _watch(self) -> None:  # executor thread
        from kazoo.recipe.watchers import DataWatch

        try:
            DataWatch(self._client, self._path, self._on_data)
        except Exception:
            log.exception("cannot watch %s in ZooKeeper", self._path)
            self._watching = False

    def _on_data(self, data: bytes | None, _stat: Any) -> None:  # kazoo thread
        assert self._loop is not None
        post(self._loop, self._set, decode_record(data))

    def _set(self, record: LeaderRecord | None) -> None:  # event loop
        if record != self.leader:
            log.info("coordinator leader is now %s", record.address if record else "unknown")
        self.leader = record
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait(self, timeout: float) -> LeaderRecord | None:
        """The leader, waiting up to ``timeout`` seconds for one to be known."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.leader is None and self._changed is not None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):  # not wait_for: it can swallow a cancel
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
        return self.leader

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, _stop_client, client)
        self._executor.shutdown(wait=False, cancel_futures=True)


def _stop_client(client: Any) -> None:
    """Stop and close a kazoo client (blocking: run it in a thread)."""
    try:
        client.stop()
        client.close()
    except Exception:
        log.exception("closing the ZooKeeper client failed")
