"""The Disks page's error counts, read from the storage nodes' exposition text."""

from __future__ import annotations

from wormfs.coordinator.ui.disk_errors import parse_counts

TEXT = """\
# HELP wormfs_disk_io_errors_total Failed I/O calls on the disk
# TYPE wormfs_disk_io_errors_total counter
wormfs_disk_io_errors_total{node="n1",disk="d1",op="read"} 2.0
wormfs_disk_io_errors_total{node="n1",disk="d1",op="write"} 1.0
wormfs_disk_io_errors_total{node="n1",disk="d2",op="read"} 0.0
# HELP wormfs_disk_checksum_errors_total Blocks failing their checksum
# TYPE wormfs_disk_checksum_errors_total counter
wormfs_disk_checksum_errors_total{node="n1",disk="d2"} 4.0
wormfs_disk_checksum_errors_total{node="n2",disk="d3"} 1.0
# HELP wormfs_disk_chunks Chunks on the disk
# TYPE wormfs_disk_chunks gauge
wormfs_disk_chunks{node="n1",disk="d1"} 9.0
"""


def test_counts_per_disk_summed_over_operations() -> None:
    assert parse_counts(TEXT) == {"d1": (3, 0), "d2": (0, 4), "d3": (0, 1)}


def test_no_series_no_counts() -> None:
    assert parse_counts("") == {}
