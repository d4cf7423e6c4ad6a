"""Process setup, memory: keep glibc malloc from handing large freed buffers back to the kernel.

Layer: runtime, process start-up (one libc call, no other I/O). Contract: ``tune_malloc()`` fixes
glibc's mmap and trim thresholds for the process (``mallopt``) and returns whether it did;
it does nothing on other C libraries, or when the operator set glibc's own ``MALLOC_*_`` /
``GLIBC_TUNABLES`` variables (their choice wins).

Why: by default glibc serves large allocations (128 KiB and up, adjusted dynamically) with
``mmap`` or from the top of a heap that it trims back to the kernel once more than a few
hundred KiB lie free there. A daemon that allocates and frees buffers of a few hundred KiB
per request (stripes, fragments, chunk blocks, HTTP body pieces) then gets fresh pages from
the kernel again and again, and touching a fresh page costs a page fault. On the benchmark
machine (docs/performance.md) that made ISA-L encoding at 4+2 with 1 MiB stripes (256 KiB
fragments) ten times slower than with reused memory, and the storage node's GET path a
quarter slower. With allocations below ``MMAP_THRESHOLD`` served from the heap and up to
``TRIM_THRESHOLD`` of free memory kept per malloc arena, buffers are reused instead.

The cost is memory held after a burst: at most ``TRIM_THRESHOLD`` of free space at the top of
each arena (glibc keeps at most eight arenas per core), usually far less.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # mallopt parameter numbers, from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 4 * 1024 * 1024
TRIM_THRESHOLD = 16 * 1024 * 1024
GLIBC_ENV = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "GLIBC_TUNABLES",
)


def tune_malloc(
    mmap_threshold: int = MMAP_THRESHOLD,
    trim_threshold: int = TRIM_THRESHOLD,
    arena_max: int | None = None,
) -> bool:
    """Fix glibc's mmap and trim thresholds (and, given ``arena_max``, the number of malloc
    arenas: each keeps up to ``trim_threshold`` free, and glibc makes up to eight per core
    for a process's threads); True when the thresholds were applied."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(name in os.environ for name in GLIBC_ENV):
        log.info("malloc thresholds left as configured by the environment")
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # Setting either threshold also turns off glibc's dynamic adjustment of both.
    applied = bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold))
    applied = bool(mallopt(M_TRIM_THRESHOLD, trim_threshold)) and applied
    if arena_max is not None:
        mallopt(M_ARENA_MAX, arena_max)
    return applied
