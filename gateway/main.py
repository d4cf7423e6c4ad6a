"""Gateway process wiring: builds the ObjectService over real clients and serves S3.

Layer: process bootstrap for the gateway. One HTTP client session (with a large connection
pool to storage nodes) per process lives in the app's cleanup context; several worker
processes may share one port with SO_REUSEPORT.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from wormfs.bootstrap import serve
from wormfs.clients.coordinator import CoordinatorClient
from wormfs.clients.storage import StorageClient
from wormfs.config import GatewayConfig
from wormfs.gateway.app import create_s3_app
from wormfs.gateway.object_service import ObjectService
from wormfs.malloc import tune_malloc
from wormfs.tls import server_context

GATEWAY_MALLOC_ARENAS = 2
SESSION_KEY = web.AppKey("wormfs_session", aiohttp.ClientSession)


async def create_app(config: GatewayConfig, secret: bytes) -> web.Application:
    # Node streams are long-lived and many at once (k+m per request), so no per-host cap.
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30),
        auto_decompress=False,
    )
    coordinator = CoordinatorClient(
        session,
        config.coordinator_url,  # one URL, or several: requests find the leader
        secret,
        zookeeper_hosts=config.zookeeper_hosts,
        zookeeper_path=config.zookeeper_path,
    )
    service = ObjectService(
        coordinator, StorageClient(session, secret), inline_max=config.inline_max
    )
    app = create_s3_app(service, config)
    app[SESSION_KEY] = session

    async def close_session(app: web.Application) -> AsyncIterator[None]:
        yield
        await coordinator.close()  # stops its ZooKeeper watch, if any
        await app[SESSION_KEY].close()

    app.cleanup_ctx.append(close_session)
    return app


def run(config: GatewayConfig, secret: bytes, ready_file: Path | None) -> None:
    # Stripes and fragments are allocated and freed per request: keep freed ones for reuse
    # (ISA-L encoding runs ten times slower on freshly faulted pages). Two arenas: the
    # executor threads would otherwise each get one, each keeping its own free memory.
    tune_malloc(arena_max=GATEWAY_MALLOC_ARENAS)

    async def factory() -> web.Application:
        return await create_app(config, secret)

    serve(
        factory,
        config.listen.host,
        config.listen.port,
        ready_file,
        reuse_port=config.workers > 1,
        # HTTPS when configured (validated at start-up); SDKs use aws-chunked trailers then.
        ssl_context=server_context(config.tls_cert, config.tls_key) if config.tls_cert else None,
    )
