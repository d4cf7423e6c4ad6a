"""Coordinator failover acceptance: two real coordinator processes on a real PostgreSQL, elected
by a real ZooKeeper, with clients that find the leader by themselves.

* kill -9 the leader during a stream of commits: the other leads within 10 s and every
  acknowledged commit is there afterwards;
* a leader frozen (SIGSTOP) until its ZooKeeper session expires, with a write in flight:
  when it wakes up, that late write fails with ``StaleLeaderError`` (fencing by the leader
  epoch in the database) and changes nothing, and it then redirects to the new leader;
* a storage node that stops heartbeating is offline within 30 s and gets no new placements.

The storage nodes are registrations made by the test (metadata commits need no chunk bytes),
so the tests exercise the coordinators, the database and the election only. Processes are
started by this module and stopped by PID; temp dirs and databases are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from infra.postgres import PostgresServer, create_database, drop_database
from infra.zookeeper import ZooKeeperServer
from waiting import eventually, wait_until

from wormfs.clients.coordinator import CoordinatorClient
from wormfs.errors import NotLeaderError, StaleLeaderError, WormError
from wormfs.internal.http import InternalClient
from wormfs.wire.coordinator import (
    BeginWrite,
    CommitObject,
    CoordinatorHealth,
    CreateBucket,
    CreateUser,
    Heartbeat,
    NodeRegistration,
    PartRecord,
)
from wormfs.wire.storage import DiskInfo

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(120)]

SECRET = b"failover-test-secret"
SESSION_TIMEOUT = 3.0
READY_TIMEOUT = 60.0
GIB = 1024**3


@dataclass
class Coordinator:
    name: str
    log_path: Path
    ready_file: Path
    process: subprocess.Popen[bytes]
    address: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Pair:
    """Two coordinators, one PostgreSQL database, one ZooKeeper path."""

    root: Path
    database_url: str
    zookeeper_hosts: str
    offline_after: float = 30.0
    members: list[Coordinator] = field(default_factory=list)

    def start(self, name: str) -> Coordinator:
        config = self.root / "coordinator.toml"
        config.write_text(
            f'zookeeper_path = "/wormfs-it-{self.root.name}"\n'
            f"zookeeper_session_timeout = {SESSION_TIMEOUT}\n"
            "heartbeat_interval = 1.0\n"
            f"node_offline_after = {self.offline_after}\n"
            "gc_interval = 3600.0\n"
            "[coding]\nk = 4\nm = 2\nstripe_size = 4096\nsegment_size = 16384\n"
        )
        ready = self.root / f"{name}.ready.json"
        log_path = self.root / f"{name}.log"
        env = dict(os.environ, WORMFS_CLUSTER_SECRET=SECRET.decode(), PYTHONSAFEPATH="1")
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "wormfs.cli",
                    "coordinator",
                    "--port",
                    "0",
                    "--config",
                    str(config),
                    "--database-url",
                    self.database_url,
                    "--zookeeper-hosts",
                    self.zookeeper_hosts,
                    "--ready-file",
                    str(ready),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        member = Coordinator(name, log_path, ready, process)
        self.members.append(member)

        def address() -> str:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited early:\n{self.logs()}")
            if ready.exists():
                info = json.loads(ready.read_text())
                if info.get("pid") == process.pid:
                    return str(info["address"])
            return ""

        try:
            member.address = wait_until(address, READY_TIMEOUT, message=f"{name} ready")
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}:\n{self.logs()}") from None
        return member

    def signal(self, member: Coordinator, sig: int) -> None:
        if member.process.poll() is None:
            os.kill(member.pid, sig)

    def stop(self) -> None:
        for member in self.members:
            if member.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(member.pid, signal.SIGCONT)  # a frozen one must see its SIGTERM
                member.process.terminate()
                try:
                    member.process.wait(20)
                except subprocess.TimeoutExpired:
                    member.process.kill()
                    member.process.wait()

    def logs(self) -> str:
        return "\n".join(
            f"===== {m.name} =====\n{m.log_path.read_text(errors='replace')[-8000:]}"
            for m in self.members
            if m.log_path.exists()
        )


@pytest.fixture
async def pair(
    postgres_server: PostgresServer, zookeeper_server: ZooKeeperServer, tmp_path: Path
) -> AsyncIterator[Pair]:
    # Under tmp_path and kept: the log scan reads the coordinators' logs after this fixture.
    root = tmp_path / "failover"
    root.mkdir()
    name = f"failover_{uuid.uuid4().hex[:12]}"
    url = await asyncio.to_thread(create_database, postgres_server, name)
    p = Pair(root, url, zookeeper_server.hosts)
    try:
        yield p
    except BaseException:
        print(p.logs())
        raise
    finally:
        await asyncio.to_thread(p.stop)
        await asyncio.to_thread(drop_database, postgres_server, name)


async def health(session: aiohttp.ClientSession, member: Coordinator) -> CoordinatorHealth | None:
    try:
        return await InternalClient(session, member.address, SECRET).call(
            "GET", "/v1/health", CoordinatorHealth, timeout=2.0
        )
    except WormError:
        return None


async def the_leader(session: aiohttp.ClientSession, pair: Pair, timeout: float) -> Coordinator:
    found: list[Coordinator] = []

    async def one() -> bool:
        found.clear()
        for member in pair.members:
            if member.process.poll() is None:
                h = await health(session, member)
                if h is not None and h.leader:
                    found.append(member)
        return len(found) == 1

    await eventually(one, timeout, message="exactly one leader")
    return found[0]


def disks(node: str, count: int = 6) -> list[DiskInfo]:
    return [
        DiskInfo(
            disk_id=f"{node}-d{i}",
            path=f"/data/{node}/{i}",
            state="online",
            capacity_bytes=2 * 100 * GIB,
            free_bytes=100 * GIB,
            used_bytes=100 * GIB,
        )
        for i in range(count)
    ]


async def register(client: CoordinatorClient, node: str) -> None:
    await client.register_node(
        NodeRegistration(node_id=node, address=f"http://127.0.0.1:9/{node}", disks=disks(node))
    )


async def heartbeats(client: CoordinatorClient, node: str, interval: float = 0.5) -> None:
    while True:
        with contextlib.suppress(WormError):
            await client.heartbeat(node, Heartbeat(disks=disks(node)))
        await asyncio.sleep(interval)


async def commit(client: CoordinatorClient, bucket: str, key: str, size: int = 100) -> str:
    """One small object's metadata commit; returns its version id."""
    grant = await client.begin_write(BeginWrite(bucket=bucket, key=key, size=size))
    etag = '"' + uuid.uuid4().hex + '"'
    part = PartRecord(part_number=1, size=size, etag=etag, segments=grant.segments)
    manifest = await client.commit_object(
        CommitObject(
            write_id=grant.write_id,
            bucket=bucket,
            key=key,
            version_id=grant.version_id,
            owner_id="owner",
            size=size,
            etag=etag,
            profile=grant.profile,
            parts=[part],
        )
    )
    return manifest.version_id


async def test_leader_killed_mid_stream(pair: Pair) -> None:
    await asyncio.to_thread(pair.start, "coordinator-a")
    await asyncio.to_thread(pair.start, "coordinator-b")
    async with aiohttp.ClientSession() as session:
        leader = await the_leader(session, pair, 30)
        urls = ",".join(m.address for m in pair.members)
        client = CoordinatorClient(session, urls, SECRET, failover_timeout=30.0)
        await register(client, "n1")
        beating = asyncio.create_task(heartbeats(client, "n1"))
        await client.create_bucket("stream", CreateBucket(owner_id="owner"))

        acknowledged: dict[str, str] = {}
        failed: list[str] = []
        killed = asyncio.Event()
        stop = asyncio.Event()

        async def writer(worker: int) -> None:
            i = 0
            while not stop.is_set():
                key = f"w{worker}/obj-{i:05d}"
                i += 1
                try:
                    acknowledged[key] = await commit(client, "stream", key)
                except WormError as exc:
                    failed.append(f"{key}: {exc!r}")

        writers = [asyncio.create_task(writer(w)) for w in range(4)]
        try:
            await eventually(
                lambda: _at_least(acknowledged, 100), 60, message="100 commits before the kill"
            )
            before = len(acknowledged)
            pair.signal(leader, signal.SIGKILL)  # no clean shutdown, no lock released
            killed.set()
            survivor = next(m for m in pair.members if m is not leader)

            async def survivor_leads() -> bool:
                h = await health(session, survivor)
                return h is not None and h.leader

            killed_at = time.monotonic()
            await eventually(survivor_leads, 10, message="the survivor leads")
            took = time.monotonic() - killed_at  # printed for the record, not asserted
            after_kill = len(acknowledged)
            await eventually(
                lambda: _at_least(acknowledged, after_kill + 100), 60, message="100 commits after"
            )
        finally:
            stop.set()
            await asyncio.gather(*writers)
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
        print(f"failover took {took:.2f}s; {before} commits before the kill")
        print(f"{len(acknowledged)} commits acknowledged in all")
        print(f"{len(failed)} commits failed (never acknowledged): {failed[:5]}")

        # Every acknowledged commit is there, at the version that was acknowledged.
        new = CoordinatorClient(session, survivor.address, SECRET)
        listed: dict[str, str] = {}
        start_after = ""
        while True:
            page = await new.list_objects("stream", start_after=start_after)
            listed.update({o.key: o.version_id for o in page.objects})
            if not page.is_truncated:
                break
            start_after = page.objects[-1].key
        missing = {k for k, v in acknowledged.items() if listed.get(k) != v}
        assert not missing, f"acknowledged commits lost: {sorted(missing)[:10]}"
        assert took < 10
        # The killed leader's epoch is fenced: the survivor holds a newer one.
        assert leader.process.wait(5) == -signal.SIGKILL


def _at_least(acknowledged: dict[str, str], n: int) -> Awaitable[bool]:
    async def check() -> bool:
        return len(acknowledged) >= n

    return check()


async def test_frozen_leader_late_write_is_fenced(pair: Pair) -> None:
    await asyncio.to_thread(pair.start, "coordinator-a")
    async with aiohttp.ClientSession() as session:
        old = await the_leader(session, pair, 30)
        await asyncio.to_thread(pair.start, "coordinator-b")
        other = pair.members[1]
        client = CoordinatorClient(session, old.address, SECRET)
        await register(client, "n1")
        await client.create_bucket("fenced", CreateBucket(owner_id="owner"))
        await commit(client, "fenced", "before")

        # A write into the old leader that gets stuck inside its transaction: the test holds
        # a table lock that makes the INSERT wait (after the gate and the epoch check at the
        # start of the request, before the fencing check at the end of the transaction).
        dsn = pair.database_url.replace("postgresql+asyncpg://", "postgresql://")
        blocker = await asyncpg.connect(dsn)
        lock = blocker.transaction()
        await lock.start()
        # (users: a table the new leader's commits below do not touch, not even through a
        # foreign key check, which would wait on this lock too.)
        await blocker.execute("LOCK TABLE users IN EXCLUSIVE MODE")
        raw_old = InternalClient(session, old.address, SECRET)
        late = asyncio.create_task(
            raw_old.request("POST", "/v1/users", body=CreateUser(display_name="late"), timeout=90)
        )

        async def stuck() -> bool:
            # (asyncpg prepares statements: the wait is in the Parse step, where
            # pg_stat_activity still shows the previous statement.)
            n = await blocker.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND application_name = 'wormfs-coordinator'"
            )
            return bool(n)

        await eventually(stuck, 20, message="the late write waits on the lock")

        # Freeze the old leader until its ZooKeeper session expires and the other leads.
        pair.signal(old, signal.SIGSTOP)
        try:

            async def other_leads() -> bool:
                h = await health(session, other)
                return h is not None and h.leader

            await eventually(other_leads, 30, message="the other coordinator leads")
            new_client = CoordinatorClient(session, other.address, SECRET)
            await commit(new_client, "fenced", "during")
            await lock.rollback()  # the late INSERT goes through... inside a fenced transaction

            async def released() -> bool:
                return not await stuck()

            # The INSERT has its lock (the old leader, still frozen, commits only on thawing).
            await eventually(released, 20, message="the late INSERT past the lock")
            await blocker.close()
        finally:
            pair.signal(old, signal.SIGCONT)

        with pytest.raises(StaleLeaderError):
            await late
        # Nothing changed: the late user does not exist; the new leader's data is intact.
        users = [u.display_name for u in (await new_client.list_users()).users]
        assert "late" not in users
        keys = [o.key for o in (await new_client.list_objects("fenced")).objects]
        assert keys == ["before", "during"]

        # Awake, the old leader notices it lost its session, steps down and redirects.
        async def redirects() -> bool:
            try:
                await raw_old.request("GET", "/v1/buckets", timeout=5)
            except NotLeaderError as exc:
                return exc.leader == other.address
            return False

        await eventually(redirects, 30, message="the old leader redirects to the new one")
        with pytest.raises(NotLeaderError):
            await raw_old.request("PUT", "/v1/buckets/later", body=CreateBucket(owner_id="x"))
        assert [b.name for b in (await new_client.list_buckets()).buckets] == ["fenced"]
        old_health = await health(session, old)
        assert old_health is not None and not old_health.leader
        assert "stepping down as leader" in old.log_path.read_text()


async def test_silent_node_goes_offline_and_gets_no_placements(pair: Pair) -> None:
    pair.offline_after = 6.0
    await asyncio.to_thread(pair.start, "coordinator-a")
    await asyncio.to_thread(pair.start, "coordinator-b")
    async with aiohttp.ClientSession() as session:
        await the_leader(session, pair, 30)
        urls = ",".join(m.address for m in pair.members)
        client = CoordinatorClient(session, urls, SECRET)
        for node in ("live", "silent"):
            await register(client, node)
        await client.create_bucket("place", CreateBucket(owner_id="owner"))
        beating = asyncio.create_task(heartbeats(client, "live"))
        try:
            grant = await client.begin_write(BeginWrite(bucket="place", key="k", size=100))
            used = {c.node_id for s in grant.segments for c in s.chunks}
            assert used == {"live", "silent"}  # spread over both while both are alive
            # "silent" never heartbeats after registering: within the bound below it is offline.

            async def offline() -> bool:
                nodes = {n.node_id: n.state for n in (await client.list_nodes()).nodes}
                return nodes.get("silent") == "offline" and nodes.get("live") == "online"

            await eventually(offline, 30, interval=0.2, message="the silent node is offline")
            for i in range(20):
                grant = await client.begin_write(
                    BeginWrite(bucket="place", key=f"after-{i}", size=100)
                )
                nodes = {c.node_id for s in grant.segments for c in s.chunks}
                assert nodes == {"live"}, f"a silent node got a placement: {nodes}"
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
