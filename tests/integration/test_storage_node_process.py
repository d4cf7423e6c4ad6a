"""A real storage-node process: crash it with SIGKILL under load, restart it, lose nothing.

The node (``python -m wormfs.storage_node``) registers with a tiny fake coordinator served by
this test. 100 chunk PUTs run concurrently; the node is SIGKILLed while some are still
streaming. After a restart on the same disks, every acknowledged chunk must read back
verified, and the inventory must list only complete chunks (no torn or temp files).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from waiting import eventually, within

from wormfs.clients.storage import StorageClient
from wormfs.format.chunkformat import ChunkHeader
from wormfs.format.layout import Profile
from wormfs.ids import new_id
from wormfs.internal.auth import Verifier
from wormfs.internal.http import internal_middleware, json_response, read_json
from wormfs.wire.coordinator import Heartbeat, NodeRegistration, RegisterResult

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SECRET = "storage-node-process-test-secret"
SECRET_ENV = "WORMFS_TEST_STORAGE_SECRET"
READY_TIMEOUT = 20.0
CHUNKS = 100
KILL_AFTER_ACKS = 30


@dataclass
class FakeCoordinator:
    registrations: list[NodeRegistration] = field(default_factory=list)
    heartbeats: list[Heartbeat] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[internal_middleware(Verifier(SECRET.encode()))])
        app.router.add_post("/v1/nodes/register", self.register)
        app.router.add_post("/v1/nodes/{node_id}/heartbeat", self.heartbeat)
        return app

    async def register(self, request: web.Request) -> web.Response:
        registration = await read_json(request, NodeRegistration)
        self.registrations.append(registration)
        return json_response(RegisterResult(node_id=registration.node_id, heartbeat_interval=0.5))

    async def heartbeat(self, request: web.Request) -> web.Response:
        self.heartbeats.append(await read_json(request, Heartbeat))
        return json_response(
            RegisterResult(node_id=request.match_info["node_id"], heartbeat_interval=0.5)
        )


@dataclass
class NodeProcess:
    """One storage-node child process; only its own PID is ever signalled."""

    root: Path
    disks: list[Path]
    coordinator_url: str
    process: subprocess.Popen[bytes] | None = None
    address: str = ""

    @property
    def ready_file(self) -> Path:
        return self.root / "node.ready"

    @property
    def log_file(self) -> Path:
        return self.root / "node.log"

    def start(self) -> None:
        self.ready_file.unlink(missing_ok=True)
        args = [sys.executable, "-m", "wormfs.storage_node", "--host", "127.0.0.1", "--port", "0"]
        for disk in self.disks:
            args += ["--disk", str(disk)]
        args += [
            "--ready-file",
            str(self.ready_file),
            "--coordinator-url",
            self.coordinator_url,
            "--secret-env",
            SECRET_ENV,
            "--heartbeat-interval",
            "0.5",
        ]
        env = {**os.environ, SECRET_ENV: SECRET, "PYTHONSAFEPATH": "1"}
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)

    async def wait_ready(self) -> str:
        assert self.process is not None
        process = self.process

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"node exited with {process.returncode}:\n{self.logs()}")
            return self.ready_file.exists()

        try:
            await eventually(ready, READY_TIMEOUT, message="the node ready")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}:\n{self.logs()}") from None
        info = json.loads(self.ready_file.read_text())
        assert info["pid"] == self.process.pid
        self.address = str(info["address"])
        return self.address

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind runs in the node."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return 0 if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            return -9

    def logs(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The node's disks and log, under ``tmp_path`` (where the log scan finds ``node.log``)."""
    return tmp_path


def chunk_header(index: int) -> ChunkHeader:
    # 8 stripes of 64 KiB, zfec 2+1: 8 blocks of 32 KiB per chunk.
    return ChunkHeader(
        chunk_id=new_id(),
        version_id=new_id(),
        part_number=1,
        segment_index=index,
        fragment_index=index % 3,
        profile=Profile(codec="zfec", k=2, m=1, stripe_size=65536),
        segment_offset=index * 524288,
        segment_length=524288,
        bucket="crash-test",
        key=f"object-{index}",
    )


async def slow_body(fragments: list[bytes]) -> AsyncIterator[bytes]:
    """Stream block by block with pauses, so that PUTs are mid-body when the node dies."""
    for fragment in fragments:
        yield fragment
        await asyncio.sleep(0.03)


async def test_kill_9_under_load_loses_no_acknowledged_chunk(workdir: Path) -> None:
    fake = FakeCoordinator()
    coordinator = TestServer(fake.app(), host="127.0.0.1")
    await coordinator.start_server()
    node = NodeProcess(
        workdir,
        [workdir / "disk1", workdir / "disk2"],
        str(coordinator.make_url("")).rstrip("/"),
    )
    try:
        async with aiohttp.ClientSession() as session:
            storage = StorageClient(session, SECRET.encode())
            await run_crash_scenario(node, fake, storage)
    except BaseException:
        print(node.logs())
        raise
    finally:
        code = node.stop()
        await coordinator.close()
    assert code == 0, f"node did not stop cleanly ({code}):\n{node.logs()}"


async def run_crash_scenario(
    node: NodeProcess, fake: FakeCoordinator, storage: StorageClient
) -> None:
    node.start()
    address = await node.wait_ready()
    # Registration happens before the ready file is written when the coordinator is up.
    assert len(fake.registrations) == 1
    node_id = fake.registrations[0].node_id
    disk_ids = [d.disk_id for d in (await storage.disks(address)).disks]
    assert len(disk_ids) == 2

    chunks = [chunk_header(i) for i in range(CHUNKS)]
    bodies = {h.chunk_id: [os.urandom(h.fragment_size(j)) for j in range(8)] for h in chunks}
    acked: dict[str, str] = {}  # chunk id -> disk id
    enough = asyncio.Event()

    async def put(index: int, header: ChunkHeader) -> None:
        await asyncio.sleep(index * 0.02)  # staggered: some finish, some are mid-body at the kill
        disk_id = disk_ids[index % 2]
        await storage.put_chunk(address, disk_id, header, slow_body(bodies[header.chunk_id]))
        acked[header.chunk_id] = disk_id
        if len(acked) >= KILL_AFTER_ACKS:
            enough.set()

    tasks = [asyncio.create_task(put(i, h)) for i, h in enumerate(chunks)]
    await within(enough.wait(), 30)
    node.kill()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(acked) >= KILL_AFTER_ACKS and failures, "the kill did not land mid-load"
    torn = sum(len(os.listdir(disk / "tmp")) for disk in node.disks)
    assert torn > 0, "no write was in progress at the kill"

    # Restart on the same disks: same node, same disks, every acknowledged chunk intact.
    node.start()
    address = await node.wait_ready()
    health = await storage.health(address)
    assert health.node_id == node_id and health.status == "ok"
    assert [d.disk_id for d in (await storage.disks(address)).disks] == disk_ids
    for disk in node.disks:
        assert os.listdir(disk / "tmp") == [], "leftover temp files were not removed"

    by_id = {h.chunk_id: h for h in chunks}
    for chunk_id, disk_id in acked.items():
        async with storage.open_chunk(address, disk_id, chunk_id) as reader:
            assert reader.header == by_id[chunk_id]
            got = [await reader.read_block(j) for j in range(8)]
        assert got == bodies[chunk_id]

    listed: set[str] = set()
    for disk_id in disk_ids:
        after: str | None = None
        while True:
            page = await storage.inventory(address, disk_id, after, 40)
            for entry in page.chunks:
                # A chunk whose PUT died after its rename may be listed, but only whole.
                assert entry.chunk_id in by_id
                assert entry.file_size == by_id[entry.chunk_id].file_size
                result = await storage.verify_chunk(address, disk_id, entry.chunk_id)
                assert result.ok, result
                listed.add(entry.chunk_id)
            if page.next_after is None:
                break
            after = page.next_after
    assert set(acked) <= listed
    # The restarted node registered again and heartbeats.
    assert [r.node_id for r in fake.registrations] == [node_id, node_id]
    beats = len(fake.heartbeats)
    await eventually(lambda: len(fake.heartbeats) > beats, 10, message="a heartbeat after restart")
