"""Fixtures shared by the component tests of the S3 door.

``env``: a real ObjectService and coordinator behind the S3 app on loopback
(``component.s3_fixtures.start_env``); a module that needs another setup defines its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from component.s3_fixtures import S3Env, Server, start_env


@pytest.fixture
async def env(aiohttp_server: Server, tmp_path: Path) -> S3Env:
    return await start_env(aiohttp_server, tmp_path)
