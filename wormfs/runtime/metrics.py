"""Prometheus expositions of a daemon: one registry per app, or the gateway's multiprocess files.

Layer: runtime (serving), below the components, which define their own series. Contract:

* Series names follow one convention, checked by ``tests/unit/test_metric_names.py`` over every
  daemon's exposition: the ``wormfs_`` prefix, base units in the name (``_seconds``,
  ``_bytes``, ``_ratio`` for 0..1, ``_timestamp_seconds`` for points in time), ``_total`` on
  counters only, and bounded labels (an operation name, a status code, a node or disk id,
  a state; never a key, a bucket or a request id).
* ``multiprocess_dir()`` is ``PROMETHEUS_MULTIPROC_DIR`` when this process runs in
  prometheus-client's multiprocess mode (the gateway workers of ``wormfs server``): then every
  value lives in that directory's files, written by each worker, and ``multiprocess_exposition``
  reads them all into one exposition, in a fresh ``CollectorRegistry`` with a
  ``MultiProcessCollector`` per scrape (file reads: run it in a thread, never on the loop).
* ``exposition(registry)`` is the text of one registry; ``metrics_response(body)`` the aiohttp
  answer with Prometheus' content type.
* ``add_build_info(registry, daemon)`` registers ``wormfs_build_info{version, daemon}`` = 1.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

# No ``*_created`` series: the gateway's multiprocess mode has none, so neither has any other
# daemon, and the cluster exposition merges like families from every daemon.
disable_created_metrics()  # type: ignore[no-untyped-call]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "wormfs_"


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV, "")
    return Path(value) if value else None


def _installed_version() -> str:
    try:
        return importlib.metadata.version("wormfs")
    except importlib.metadata.PackageNotFoundError:  # run from a tree that was never installed
        return "unknown"


# Read once, when the module is imported (it reads the package's metadata files).
VERSION = _installed_version()


def add_build_info(registry: CollectorRegistry | None, daemon: str) -> Gauge:
    """``wormfs_build_info`` (always 1); ``registry`` None in multiprocess mode, where the
    gauge's value goes to the shared files and ``max`` folds the workers into one series."""
    gauge = Gauge(
        "wormfs_build_info",
        "WormFS version of this daemon (always 1)",
        ["version", "daemon"],
        registry=registry,
        multiprocess_mode="max",
    )
    gauge.labels(version=VERSION, daemon=daemon).set(1)
    return gauge


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def multiprocess_exposition(path: Path) -> bytes:
    """Every worker's series from the files under ``path``, summed (blocking: file reads)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def metrics_response(body: bytes) -> web.Response:
    response = web.Response(body=body)
    # Set whole: aiohttp's content_type setter would drop the version and charset parameters.
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
