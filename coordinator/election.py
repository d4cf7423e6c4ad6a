"""Leader election over ZooKeeper (kazoo) for several coordinators on one database.

Layer: coordinator, beside the app wiring; it drives ``leadership.Office``. Contract:

* ``Election.start(address)`` connects to ZooKeeper in the background and campaigns: kazoo's
  lock recipe under ``<zookeeper_path>/election`` (each contender an ephemeral sequential
  znode holding its address; the lowest leads). On winning, the coordinator takes office
  (next leader epoch in the database, root user, leader-only jobs), then publishes
  ``{"address", "epoch"}`` in the ephemeral znode ``<zookeeper_path>/leader`` and starts
  serving. Every coordinator watches that znode, so a follower names the leader in its
  ``NotLeaderError`` answers.
* kazoo runs on its own threads: its state listener and watches only hand events to the event
  loop with ``call_soon_threadsafe`` (``wormfs.internal.leader.post``); every blocking kazoo
  call runs in this object's thread pool. Nothing here blocks the loop.
* Session states, and why each reaction is what it is:
  - CONNECTED: the session is alive; a leader whose writes were paused resumes them (the
    lock znode is still ours: an unexpired session keeps its ephemeral znodes, so nobody else
    can have been elected meanwhile).
  - SUSPENDED: the connection dropped and the session may or may not survive. A leader stops
    accepting writes at once (``NotLeaderError``): kazoo notices the drop after at most 2/3 of
    the session timeout, before the server can expire the session and let another
    coordinator win, so the old leader has stopped writing before a new one exists.
  - LOST: the session expired. The lock and leader znodes are gone and another coordinator
    may lead: step down (stop serving, stop the jobs, forget the epoch) and, once kazoo has
    a new session, campaign again.
  A leader that was frozen (SIGSTOP, a long pause) cannot react to any of this in time; the
  leader epoch in the database fences its late writes (``db.database``).
* ``close()`` steps down cleanly: stop serving and the jobs, delete the leader znode, release
  the lock (so the next coordinator leads at once, without waiting for a session timeout),
  stop kazoo.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiohttp import web

from wormfs.coordinator.leadership import Office
from wormfs.internal.leader import (
    LeaderRecord,
    decode_record,
    election_path,
    encode_record,
    leader_path,
    new_kazoo_client,
    post,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_DELAY = 1.0  # after a failed campaign round (ZooKeeper error, database unavailable)
CLOSE_STEP_TIMEOUT = 3.0


class Role(enum.Enum):
    FOLLOWER = "follower"
    LEADER = "leader"


class Election:
    """One coordinator's part in the election (see the module docstring)."""

    def __init__(
        self, hosts: str, root: str, session_timeout: float, office: Office, advertise: str = ""
    ) -> None:
        self._hosts = hosts
        self._root = root
        self._session_timeout = session_timeout
        self._office = office
        self.address = advertise
        self.admin_address = ""  # this coordinator's admin API, published when it leads
        self.role = Role.FOLLOWER
        self.epoch: int | None = None
        self.leader: LeaderRecord | None = None  # what the leader znode says
        self._client: Any = None
        self._lock: Any = None
        self._watching = False
        self._connected = False
        self._session = 0  # bumped on every LOST: a lock won in an older session is void
        self._lead_session = -1  # the session our leadership belongs to
        self._changed = asyncio.Event()  # any ZooKeeper state change
        self._executor = ThreadPoolExecutor(max_workers=3, thread_name_prefix="election")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._campaign: asyncio.Task[None] | None = None
        self._closing = False

    # ---- what the gate and health ask -------------------------------------------------------
    @property
    def serving(self) -> bool:
        """Leading, in office, and connected in the session that won the election."""
        return self._still_leading and self._connected

    @property
    def connected(self) -> bool:
        """Whether the ZooKeeper session is connected now (for /metrics)."""
        return self._connected

    @property
    def _still_leading(self) -> bool:
        return self.role is Role.LEADER and self._lead_session == self._session

    @property
    def leader_address(self) -> str:
        if self.role is Role.LEADER:
            return self.address
        return self.leader.address if self.leader else ""

    @property
    def leader_admin_address(self) -> str:
        """The leader's admin API base URL, as the leader published it ("" when unknown)."""
        if self.role is Role.LEADER:
            return self.admin_address
        return self.leader.admin if self.leader else ""

    # ---- life cycle -------------------------------------------------------------------------
    async def start(self, address: str) -> None:
        """Connect and campaign in the background, advertising ``address`` to clients."""
        self.address = self.address or address
        self._loop = asyncio.get_running_loop()
        self._client = new_kazoo_client(self._hosts, self._session_timeout)
        self._client.add_listener(self._on_kazoo_state)
        await self._run(self._client.start_async)
        self._campaign = asyncio.create_task(self._campaign_loop(), name="coordinator-election")
        log.info("campaigning for leadership at %s via ZooKeeper %s", self.address, self._hosts)

    async def close(self) -> None:
        """Step down and disconnect (idempotent)."""
        if self._closing:
            return
        self._closing = True
        lock = self._lock
        if lock is not None:
            lock.cancel()  # wakes a blocked acquire (kazoo's cancel is thread-safe)
        if self._campaign is not None:
            self._campaign.cancel()
            try:
                await self._campaign
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("election campaign failed")
        was_leader = self.role is Role.LEADER
        # Always: a campaign cancelled halfway through taking office may have started jobs.
        await self._step_down("shutting down")
        # Each call is bounded: with ZooKeeper unreachable, kazoo would wait for a reconnect.
        # Stopping the client last unblocks any call still waiting in a thread.
        if was_leader:
            await self._bounded(self._unpublish)
        if lock is not None:
            await self._bounded(self._release, lock)
        if self._client is not None:
            await self._bounded(self._stop_client)
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _bounded(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            async with asyncio.timeout(CLOSE_STEP_TIMEOUT):
                await self._run(fn, *args)
        except TimeoutError:
            log.warning("ZooKeeper did not answer in time while closing (%s)", fn.__name__)

    # ---- kazoo threads -> event loop --------------------------------------------------------
    def _on_kazoo_state(self, state: str) -> None:  # kazoo thread: hand over, touch nothing
        assert self._loop is not None
        post(self._loop, self._on_state, state)

    def _on_leader_data(self, data: bytes | None, _stat: Any) -> None:  # kazoo thread
        assert self._loop is not None
        post(self._loop, self._on_leader, decode_record(data))

    def _on_leader(self, record: LeaderRecord | None) -> None:
        self.leader = record

    def _on_state(self, state: str) -> None:
        log.info("ZooKeeper session state: %s (%s)", state, self.role.value)
        if state == "CONNECTED":
            self._connected = True
            # After a LOST, kazoo connects again with a new session: that is no reason to
            # write again (the campaign loop is about to step down), hence the session check.
            if self._still_leading:
                self._office.resume()
            if not self._watching and not self._closing:
                self._watching = True
                asyncio.get_running_loop().run_in_executor(self._executor, self._watch_leader)
        elif state == "SUSPENDED":
            self._connected = False
            if self.role is Role.LEADER:
                self._office.pause("the coordinator's ZooKeeper connection is suspended")
        else:  # LOST: the session expired
            self._connected = False
            self._session += 1
            if self.role is Role.LEADER:
                self._office.pause("the coordinator lost its ZooKeeper session")
        self._changed.set()

    # ---- the campaign -----------------------------------------------------------------------
    async def _campaign_loop(self) -> None:
        while not self._closing:
            if not self._connected:
                await self._state_change()
                continue
            session = self._session
            lock = self._client.Lock(election_path(self._root), self.address)
            self._lock = lock
            try:
                won = await self._run(lock.acquire)  # blocks (in a thread) until we lead
            except Exception as exc:
                if self._closing:
                    return
                log.warning("election round failed (%r); retrying", exc)
                await asyncio.sleep(RETRY_DELAY)
                continue
            if not won or self._closing:
                continue
            if session != self._session or not self._connected:
                # The lock was won in a session that has since ended: it may not be ours.
                await self._run(self._release, lock)
                continue
            if not await self._lead(lock, session):
                await asyncio.sleep(RETRY_DELAY)
                continue
            while self._session == session and not self._closing:
                await self._state_change()
            if not self._closing:
                await self._step_down("the ZooKeeper session was lost")

    async def _lead(self, lock: Any, session: int) -> bool:
        """Take office and publish; False (and everything undone) if that failed."""
        try:
            epoch = await self._office.take_office(self.address)
            await self._run(
                self._publish,
                LeaderRecord(address=self.address, epoch=epoch, admin=self.admin_address),
            )
        except Exception as exc:
            log.warning("could not take office (%r); releasing the election lock", exc)
            await self._office.leave_office("taking office failed")
            await self._run(self._release, lock)
            return False
        if session != self._session:  # the session ended while we were taking office
            await self._office.leave_office("the ZooKeeper session was lost")
            return False
        self.role = Role.LEADER
        self.epoch = epoch
        self._lead_session = session
        if not self._connected:
            self._office.pause("the coordinator's ZooKeeper connection is suspended")
        log.info("elected leader with epoch %d; serving at %s", epoch, self.address)
        return True

    async def _step_down(self, reason: str) -> None:
        if self.role is Role.LEADER:
            log.warning("stepping down as leader: %s", reason)
        self.role = Role.FOLLOWER
        self.epoch = None
        await self._office.leave_office(reason)

    async def _state_change(self) -> None:
        await self._changed.wait()
        self._changed.clear()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking kazoo call on this object's threads."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # ---- blocking kazoo calls (executor threads) --------------------------------------------
    def _watch_leader(self) -> None:
        from kazoo.recipe.watchers import DataWatch

        try:
            DataWatch(self._client, leader_path(self._root), self._on_leader_data)
        except Exception:
            log.exception("cannot watch the leader znode")
            self._watching = False

    def _publish(self, record: LeaderRecord) -> None:
        from kazoo.exceptions import NodeExistsError

        path = leader_path(self._root)
        data = encode_record(record)
        try:
            self._client.create(path, data, ephemeral=True, makepath=True)
        except NodeExistsError:
            # Left by a former leader whose session is not over yet; we hold the lock, so it
            # is stale: replace it.
            self._client.delete(path)
            self._client.create(path, data, ephemeral=True, makepath=True)

    def _unpublish(self) -> None:
        from kazoo.exceptions import KazooException

        path = leader_path(self._root)
        try:
            data, _stat = self._client.get(path)
            record = decode_record(data)
            if record is not None and record.address == self.address:
                self._client.delete(path)
        except KazooException:
            pass  # gone already, or ZooKeeper is unreachable (the session will expire)

    @staticmethod
    def _release(lock: Any) -> None:
        from kazoo.exceptions import KazooException

        try:
            lock.release()
        except KazooException:
            pass

    def _stop_client(self) -> None:
        try:
            self._client.stop()
            self._client.close()
        except Exception:
            log.exception("closing the ZooKeeper client failed")


ELECTION = web.AppKey("election", Election)
