"""The admin API's lists at scale: with 10,000 objects, 1,000 buckets and 100 disks' worth of
rows seeded, every list endpoint's pages, health and cluster answer in under a second."""

from __future__ import annotations

import time
from typing import Any

from component.admin_harness import admin_running
from component.coordinator_harness import register
from sqlalchemy import insert

from wormfs.coordinator.db.tables import buckets, objects
from wormfs.coordinator.db.tx import Tx

OWNER = "owner-scale"
PROFILE = {"codec": "isal_rs_vand", "k": 4, "m": 2, "stripe_size": 4096}
_BUCKETS = insert(buckets)
_OBJECTS = insert(objects)


def _seed(tx: Tx, now: float) -> None:
    tx.run_many(
        _BUCKETS,
        [
            {
                "name": f"bucket-{i:04d}",
                "owner_id": OWNER,
                "created": now,
                "region": "us-east-1",
                "settings": {},
            }
            for i in range(1000)
        ],
    )
    tx.run_many(
        _OBJECTS,
        [
            {
                "bucket": f"bucket-{i % 10:04d}",
                "key": f"key-{i:05d}",
                "version_id": f"{i:032x}",
                "is_latest": True,
                "is_delete_marker": False,
                "size": 1000,
                "etag": '"0"',
                "content_type": "application/octet-stream",
                "user_metadata": {},
                "system_metadata": {},
                "profile": PROFILE,
                "storage_class": "STANDARD",
                "owner_id": OWNER,
                "created": now,
                "last_modified": now,
                "state": "committed",
            }
            for i in range(10_000)
        ],
    )


async def test_every_list_answers_in_under_a_second_at_scale(database_url: str) -> None:
    async with admin_running(database_url) as admin:
        for n in range(17):  # 102 disks
            await register(admin.coordinator.client, f"node-{n:02d}", count=6)
        now = time.time()
        await admin.coordinator.repo.db.write(lambda tx: _seed(tx, now))
        for i in range(150):  # audit rows and tokens to page through
            await admin.ok("POST", "/tokens", json={"name": f"t{i:03d}", "scope": "read"})
        timings: dict[str, float] = {}
        for path in ("/buckets", "/nodes", "/disks", "/users", "/tokens", "/audit"):
            cursor, pages = None, 0
            while True:
                params = {"limit": "100"} | ({"cursor": cursor} if cursor else {})
                started = time.perf_counter()
                body: Any = await admin.ok("GET", path, params=params)
                timings[f"{path} page {pages}"] = time.perf_counter() - started
                pages += 1
                cursor = body["next_cursor"]
                if cursor is None or pages == 3:
                    break
        for path in ("/health", "/cluster", "/buckets/bucket-0001", "/nodes/node-03"):
            started = time.perf_counter()
            body = await admin.ok("GET", path)
            timings[path] = time.perf_counter() - started
        cluster = await admin.ok("GET", "/cluster")
        assert (cluster["objects"], cluster["disks"]) == (10_000, 102)
        usage = (await admin.ok("GET", "/buckets/bucket-0001"))["usage"]
        assert usage == {"objects": 1000, "bytes": 1_000_000, "uploads": 0}
        slow = {k: round(v, 3) for k, v in timings.items() if v >= 1.0}
        assert not slow, slow
