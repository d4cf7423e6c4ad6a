"""Storage node, background tier: disk reports and probes, registration and heartbeats.

* ``disk_infos`` reports every disk (``statvfs`` in the disk's own thread pool, bounded by a
  timeout: a disk that does not answer is reported offline rather than stalling the report).
* ``DiskProber`` re-checks every disk periodically: an online disk whose marker vanished goes
  offline; an offline disk whose marker reads fine again (and takes a small write) comes back.
* ``CoordinatorLink`` registers the node (``POST /v1/nodes/register``) and then heartbeats
  (``POST /v1/nodes/{node_id}/heartbeat``) with the disks' state. The coordinator may start
  after the node or restart: registration is retried with capped exponential backoff, and a
  heartbeat the coordinator does not recognise (404) leads to registering again. With several
  coordinators (``coordinator_url`` lists several, or ``zookeeper_hosts`` is set) requests go
  to the leader (``wormfs.clients.coordinator``). Nothing here ever stops the node from
  serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp

from wormfs.clients.coordinator import CoordinatorClient
from wormfs.errors import NotFoundError, WormError
from wormfs.storage_node.disks import Disk, DiskSet
from wormfs.wire.coordinator import Heartbeat, NodeRegistration, RegisterResult
from wormfs.wire.storage import DiskInfo

log = logging.getLogger(__name__)

REPORT_TIMEOUT = 5.0
MIN_BACKOFF = 0.2
MAX_BACKOFF = 10.0
LINK_FAILOVER_TIMEOUT = 5.0


async def disk_info(disk: Disk, timeout: float = REPORT_TIMEOUT) -> DiskInfo:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            return await loop.run_in_executor(disk.executor, disk.info)
    except TimeoutError:
        return disk.offline_info("disk did not answer in time")
    except RuntimeError:  # executor shut down: the node is stopping
        return disk.offline_info("node is stopping")


async def disk_infos(disks: DiskSet, timeout: float = REPORT_TIMEOUT) -> list[DiskInfo]:
    return list(await asyncio.gather(*(disk_info(d, timeout) for d in disks.all())))


class DiskProber:
    """Probes every disk every ``interval`` seconds, at most one probe per disk at a time."""

    def __init__(self, disks: DiskSet, interval: float) -> None:
        self._disks = disks
        self._interval = interval
        self._running: dict[str, asyncio.Future[bool]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="disk-prober")

    async def probe_all(self) -> None:
        loop = asyncio.get_running_loop()
        started: list[asyncio.Future[bool]] = []
        for disk in self._disks.all():
            running = self._running.get(disk.disk_id)
            if running is not None and not running.done():
                continue  # a hung disk keeps its one stuck probe, no more
            try:
                fut = loop.run_in_executor(disk.executor, disk.probe)
            except RuntimeError:
                return  # executors shut down: stopping
            self._running[disk.disk_id] = fut
            started.append(fut)
        if not started:
            return
        await asyncio.wait(started, timeout=REPORT_TIMEOUT)
        for fut in started:
            if fut.done() and not fut.cancelled() and fut.exception() is not None:
                log.error("disk probe failed", exc_info=fut.exception())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.probe_all()
            except Exception:
                log.exception("disk probe round failed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class CoordinatorLink:
    """Keeps the coordinator informed of this node: register once, then heartbeat."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        coordinator_url: str,
        secret: bytes,
        disks: DiskSet,
        *,
        heartbeat_interval: float,
        rack: str = "",
        zone: str = "",
        zookeeper_hosts: str = "",
        zookeeper_path: str = "/wormfs",
    ) -> None:
        # Finds the leading coordinator among several URLs or through ZooKeeper; failover is
        # kept short because the loop below retries with its own backoff anyway.
        self._client = CoordinatorClient(
            session,
            coordinator_url,
            secret,
            zookeeper_hosts=zookeeper_hosts,
            zookeeper_path=zookeeper_path,
            failover_timeout=LINK_FAILOVER_TIMEOUT,
        )
        self._disks = disks
        self._interval = heartbeat_interval
        self._rack = rack
        self._zone = zone
        self._task: asyncio.Task[None] | None = None
        self.registered = False
        self.heartbeats = 0

    @property
    def node_id(self) -> str:
        return self._disks.node_id

    async def register(self, address: str, timeout: float = 30.0) -> None:
        """One registration attempt; raises the domain error on failure."""
        registration = NodeRegistration(
            node_id=self.node_id,
            address=address,
            disks=await disk_infos(self._disks),
            rack=self._rack,
            zone=self._zone,
        )
        result = await self._client.call(
            "POST", "/v1/nodes/register", RegisterResult, body=registration, timeout=timeout
        )
        if result.heartbeat_interval > 0:
            # Never beat slower than the coordinator expects: it declares nodes offline by it.
            self._interval = min(self._interval, result.heartbeat_interval)
        self.registered = True
        log.info("registered node %s at %s with the coordinator", self.node_id, address)

    async def heartbeat(self) -> None:
        beat = Heartbeat(disks=await disk_infos(self._disks))
        await self._client.call(
            "POST", f"/v1/nodes/{self.node_id}/heartbeat", RegisterResult, body=beat
        )
        self.heartbeats += 1

    def start(self, address: str) -> None:
        self._task = asyncio.create_task(self._loop(address), name="coordinator-link")

    async def _loop(self, address: str) -> None:
        backoff = MIN_BACKOFF
        while True:
            try:
                if self.registered:
                    await asyncio.sleep(self._interval)
                    await self.heartbeat()
                else:
                    await self.register(address)
                backoff = MIN_BACKOFF
            except asyncio.CancelledError:
                raise
            except NotFoundError as exc:
                log.warning("the coordinator does not know this node (%s); registering again", exc)
                self.registered = False
            except WormError as exc:
                what = "heartbeat" if self.registered else "registration"
                log.warning("%s failed (retrying in %.1fs): %s", what, backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            except Exception:
                log.exception("coordinator link failed (retrying in %.1fs)", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._client.close()
