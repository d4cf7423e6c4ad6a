"""The storage node's Prometheus series (storage-node HTTP tier): its disks as it sees them.

Contract: ``node_exposition(disks)`` is the text ``GET /metrics`` answers, built per scrape
from the disks' reports (``coordination.disk_infos``: statvfs in each disk's own thread, with
the report timeout, so a hung disk answers as offline instead of stalling the scrape). Labels
are the node id and the disk id (bounded by the disks the node has). Series:

* ``wormfs_disk_capacity_bytes``, ``wormfs_disk_free_bytes`` (free for new chunks: the
  reserve and writes in flight taken off), ``wormfs_disk_used_bytes`` (bytes held in chunks),
  ``wormfs_disk_chunks``
* ``wormfs_disk_online`` (1 online or full, 0 offline), as the node sees it; the cluster's
  view of a disk (``wormfs_disk_state``, draining, lost) is the coordinator's
* ``wormfs_disk_io_errors_total`` (I/O calls that failed and took the disk offline),
  ``wormfs_disk_checksum_errors_total`` (blocks or chunk files that failed their CRC32C or
  format checks when read), both since the process started
* ``wormfs_build_info{version,daemon="storage-node"}``
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from wormfs.runtime.metrics import add_build_info, exposition
from wormfs.storage_node.coordination import disk_infos
from wormfs.storage_node.disks import DiskSet
from wormfs.wire.storage import DiskInfo

LABELS = ["node", "disk"]


class DiskCollector(Collector):
    """One scrape's disk series, from reports taken just before."""

    def __init__(self, node_id: str, infos: Iterable[DiskInfo], errors: dict[str, tuple[int, int]]):
        self._node_id = node_id
        self._infos = list(infos)
        self._errors = errors  # disk id -> (I/O errors, checksum errors)

    def collect(self) -> Iterator[Metric]:
        capacity = GaugeMetricFamily(
            "wormfs_disk_capacity_bytes", "Size of the disk's file system", labels=LABELS
        )
        free = GaugeMetricFamily(
            "wormfs_disk_free_bytes", "Bytes free for new chunks (reserve taken off)", labels=LABELS
        )
        used = GaugeMetricFamily(
            "wormfs_disk_used_bytes", "Bytes held in chunk files", labels=LABELS
        )
        chunks = GaugeMetricFamily("wormfs_disk_chunks", "Chunk files on the disk", labels=LABELS)
        online = GaugeMetricFamily(
            "wormfs_disk_online", "1 if the node can read the disk (online or full)", labels=LABELS
        )
        io_errors = CounterMetricFamily(
            "wormfs_disk_io_errors", "Failed I/O calls on the disk", labels=LABELS
        )
        checksum_errors = CounterMetricFamily(
            "wormfs_disk_checksum_errors",
            "Blocks or chunk files read that failed their checksum",
            labels=LABELS,
        )
        for info in self._infos:
            labels = [self._node_id, info.disk_id]
            capacity.add_metric(labels, info.capacity_bytes)
            free.add_metric(labels, info.free_bytes)
            used.add_metric(labels, info.used_bytes)
            chunks.add_metric(labels, info.chunk_count)
            online.add_metric(labels, 0 if info.state == "offline" else 1)
            io, checksum = self._errors.get(info.disk_id, (0, 0))
            io_errors.add_metric(labels, io)
            checksum_errors.add_metric(labels, checksum)
        yield from (capacity, free, used, chunks, online, io_errors, checksum_errors)


async def node_exposition(disks: DiskSet) -> bytes:
    infos = await disk_infos(disks)
    errors = {d.disk_id: (d.io_errors, d.checksum_errors) for d in disks.all()}
    registry = CollectorRegistry()
    registry.register(DiskCollector(disks.node_id, infos, errors))
    add_build_info(registry, "storage-node")
    return exposition(registry)
