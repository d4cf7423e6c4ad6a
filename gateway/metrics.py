"""The gateway's Prometheus series (gateway layer): S3 requests, their latency, bytes and errors.

Contract: ``GatewayMetrics.create()`` defines the series; ``observe`` records one finished
request; ``inflight`` counts requests being served; ``degraded_read`` counts segment reads
that had to reconstruct from parity. ``exposition()`` is the text ``GET /metrics`` answers.

Series (labels bounded: ``operation`` is one of the router's AWS operation names, or
``Unknown`` for a request that could not be routed; ``code`` an HTTP status; ``error_code``
an S3 error code):

* ``wormfs_s3_requests_total{operation,code}``
* ``wormfs_s3_request_duration_seconds{operation}`` (histogram, 1 ms .. 60 s)
* ``wormfs_s3_received_bytes_total{operation}``, ``wormfs_s3_sent_bytes_total{operation}``
  (body bytes as they crossed the socket)
* ``wormfs_s3_errors_total{operation,error_code}``
* ``wormfs_s3_requests_inflight``
* ``wormfs_gateway_degraded_reads_total`` (segment reads served by decoding parity)
* ``wormfs_build_info{version,daemon="gateway"}``

Worker processes: with ``PROMETHEUS_MULTIPROC_DIR`` set (``wormfs server`` sets it for its
workers, ``wormfs.runtime.supervisor``) the values live in that directory's files, one set per
worker, and any worker's exposition is the sum over all of them (the in-flight gauge with
``livesum``: dead workers' values are dropped when the supervisor marks them dead). Without it
the values live in this process's own registry: right for one worker; with ``--workers N``
started by hand, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory for all of them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from wormfs.runtime.metrics import (
    add_build_info,
    exposition,
    multiprocess_dir,
    multiprocess_exposition,
)

DURATION_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
UNKNOWN_OPERATION = "Unknown"
M = TypeVar("M", Counter, Histogram)


@dataclass
class GatewayMetrics:
    requests: Counter
    duration: Histogram
    received: Counter
    sent: Counter
    errors: Counter
    inflight: Gauge
    degraded: Counter
    registry: CollectorRegistry | None  # None: multiprocess mode
    shared_dir: Path | None
    # Labelled children by (series, labels): ``labels()`` costs about 7 us a call, a dict
    # lookup nothing; the label values are bounded, so is this.
    _children: dict[tuple[int, tuple[str, ...]], Any] = field(default_factory=dict)

    def _child(self, metric: M, *labels: str) -> M:
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    @classmethod
    def create(cls) -> GatewayMetrics:
        shared = multiprocess_dir()
        # In multiprocess mode the series must not live in a registry: the files are the
        # registry, read whole at each scrape.
        registry = None if shared is not None else CollectorRegistry()
        metrics = cls(
            requests=Counter(
                "wormfs_s3_requests",
                "S3 requests answered, by operation and HTTP status",
                ["operation", "code"],
                registry=registry,
            ),
            duration=Histogram(
                "wormfs_s3_request_duration_seconds",
                "Time from a request's arrival to its last byte sent",
                ["operation"],
                buckets=DURATION_BUCKETS,
                registry=registry,
            ),
            received=Counter(
                "wormfs_s3_received_bytes",
                "Request body bytes received",
                ["operation"],
                registry=registry,
            ),
            sent=Counter(
                "wormfs_s3_sent_bytes", "Response body bytes sent", ["operation"], registry=registry
            ),
            errors=Counter(
                "wormfs_s3_errors",
                "S3 error answers, by operation and S3 error code",
                ["operation", "error_code"],
                registry=registry,
            ),
            inflight=Gauge(
                "wormfs_s3_requests_inflight",
                "S3 requests being served",
                registry=registry,
                multiprocess_mode="livesum",
            ),
            degraded=Counter(
                "wormfs_gateway_degraded_reads",
                "Segment reads that reconstructed data from parity fragments",
                registry=registry,
            ),
            registry=registry,
            shared_dir=shared,
        )
        add_build_info(registry, "gateway")
        return metrics

    def observe(
        self,
        operation: str | None,
        status: int,
        error_code: str,
        seconds: float,
        received: int,
        sent: int,
    ) -> None:
        name = operation or UNKNOWN_OPERATION
        self._child(self.requests, name, str(status)).inc()
        self._child(self.duration, name).observe(seconds)
        if received:
            self._child(self.received, name).inc(received)
        if sent:
            self._child(self.sent, name).inc(sent)
        if error_code:
            self._child(self.errors, name, error_code).inc()

    def degraded_read(self) -> None:
        self.degraded.inc()

    async def exposition(self) -> bytes:
        if self.shared_dir is not None:
            # Reading every worker's files is file I/O: off the loop.
            return await asyncio.to_thread(multiprocess_exposition, self.shared_dir)
        assert self.registry is not None
        return exposition(self.registry)
