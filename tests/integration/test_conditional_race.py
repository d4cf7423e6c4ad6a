"""Conditional writes race through real processes: 50 boto3 clients, each on its own thread
and connection, PUT one key with ``If-None-Match: *`` at once against a real gateway and
coordinator (SQLite, then PostgreSQL). The coordinator decides each condition inside the
commit's transaction under the key's lock, so exactly one writer wins (200) and every other
gets 412 PreconditionFailed or 409 ConditionalRequestConflict, as AWS answers; the stored
object is the winner's. Both a small (inline) and a chunked body are raced."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from infra.postgres import PostgresServer, create_database, drop_database
from integration.cluster import Cluster
from logscan import fail_on_problems

pytestmark = pytest.mark.integration

WRITERS = 50


@pytest.fixture(params=["sqlite", "postgresql"])
def race_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    database_url, name = "", ""
    server: PostgresServer | None = None
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        name = f"race_{uuid.uuid4().hex[:12]}"
        database_url = create_database(server, name)
    cluster = Cluster(root=tmp_path / "cluster", database_url=database_url)
    try:
        cluster.start()
        yield cluster
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()
        fail_on_problems(request.config, cluster.log_files())
        cluster.cleanup()
        if server is not None:
            drop_database(server, name)


def _race(cluster: Cluster, bucket: str, key: str, size: int) -> dict[int, Any]:
    """Every writer's outcome: its index -> 200 or the error (status, code)."""
    clients = [
        cluster.s3(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=2)
        for _ in range(WRITERS)
    ]
    start = threading.Barrier(WRITERS)

    def write(index: int) -> Any:
        body = bytes([index]) * size
        start.wait(timeout=60)
        try:
            clients[index].put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
        except ClientError as exc:
            return exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]["Code"]
        return 200

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        return dict(enumerate(pool.map(write, range(WRITERS))))


@pytest.mark.parametrize("size", [100, 300 * 1024], ids=["inline", "chunked"])
def test_fifty_writers_if_none_match_one_wins(race_cluster: Cluster, size: int) -> None:
    s3 = race_cluster.s3()
    bucket = f"race-{size}"
    s3.create_bucket(Bucket=bucket)
    outcomes = _race(race_cluster, bucket, "lock", size)
    winners = [index for index, outcome in outcomes.items() if outcome == 200]
    losers = {outcome for outcome in outcomes.values() if outcome != 200}
    assert len(winners) == 1, outcomes
    assert losers <= {(412, "PreconditionFailed"), (409, "ConditionalRequestConflict")}, losers
    stored = s3.get_object(Bucket=bucket, Key="lock")["Body"].read()
    assert stored == bytes([winners[0]]) * size
    # The key is taken for good: one more conditional create still fails.
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="lock", Body=b"late", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
