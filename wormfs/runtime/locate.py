"""Finding a running cluster from a client process: the coordinator, the secret, the root user.

Layer: runtime (used by ``wormfs admin`` and ``wormfs mount``). Contract: ``locate`` gives the
coordinator's base URL (``--coordinator-url``, else the ready file of a ``wormfs server``
data dir: ``run/coordinator.json``) and the cluster secret (``WORMFS_CLUSTER_SECRET``, else
the data dir's ``cluster.secret``), or raises ``ConfigError`` saying what is missing.
``locate_admin`` gives the admin API's base URL (``--admin-url``, else ``WORMFS_ADMIN_URL``,
else ``run/server.json`` of a ``wormfs server`` data dir, else the coordinator's admin ready
file there) and an admin token (``--token``, else ``WORMFS_ADMIN_TOKEN``, else the data dir's
``admin.token``), or raises ``ConfigError``; ``admin_url_of`` answers the URL alone, or None.
``root_access_key`` is the root user's access key (``WORMFS_ROOT_ACCESS_KEY``, else the data
dir's ``credentials.json``), or None; it never creates one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from wormfs import config as cfg


def data_dir_of(data_dir: str | None) -> Path:
    return Path(data_dir or os.environ.get("WORMFS_DATA_DIR") or "./data")


def locate(data_dir: Path, coordinator_url: str | None) -> tuple[str, bytes]:
    url = coordinator_url
    if not url:
        ready = data_dir / "run" / "coordinator.json"
        if not ready.exists():
            raise cfg.ConfigError([f"no running cluster found under {data_dir} (no {ready})"])
        url = json.loads(ready.read_text())["address"]
    secret_file = data_dir / "cluster.secret"
    if not os.environ.get(cfg.CLUSTER_SECRET_ENV) and not secret_file.exists():
        raise cfg.ConfigError([f"set {cfg.CLUSTER_SECRET_ENV} or point --data-dir at the cluster"])
    return str(url), cfg.cluster_secret(secret_file)


def root_access_key(data_dir: Path) -> str | None:
    access = os.environ.get("WORMFS_ROOT_ACCESS_KEY", "")
    if access:
        return access
    path = data_dir / "credentials.json"
    if path.exists():
        return str(json.loads(path.read_text())["access_key"])
    return None


ADMIN_URL_ENV = "WORMFS_ADMIN_URL"


def admin_url_of(data_dir: Path, admin_url: str | None) -> str | None:
    url = admin_url or os.environ.get(ADMIN_URL_ENV)
    if url:
        return url.rstrip("/")
    for ready, key in (
        (data_dir / "run" / "server.json", "admin_url"),
        (data_dir / "run" / "coordinator.admin.json", "address"),
    ):
        if ready.exists():
            found = json.loads(ready.read_text()).get(key)
            if found:
                return str(found).rstrip("/")
    return None


def locate_admin(data_dir: Path, admin_url: str | None, token: str | None) -> tuple[str, str]:
    url = admin_url_of(data_dir, admin_url)
    if url is None:
        raise cfg.ConfigError(
            [f"no admin API found under {data_dir}: give --admin-url (or {ADMIN_URL_ENV})"]
        )
    token = token or os.environ.get(cfg.ADMIN_TOKEN_ENV)
    token_file = data_dir / "admin.token"
    if not token and token_file.exists():
        token = token_file.read_text().strip()
    if not token:
        raise cfg.ConfigError(
            [
                f"no admin token: give --token, set {cfg.ADMIN_TOKEN_ENV}, or point --data-dir "
                "at the server's data dir"
            ]
        )
    return url, token
