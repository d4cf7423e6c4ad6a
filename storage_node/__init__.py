"""Storage node (``wormfs.storage_node``): keeps chunks on a node's local disks.

Layers, bottom up: ``disks`` (one data directory, its identity, health and free space),
``chunkfiles`` (blocking operations on chunk files: durable writes, verified block reads),
``chunkstore`` (the async store over all disks, with the one storage -> domain error mapping),
``coordination`` (disk probes, registration and heartbeats), ``app`` (the ``/v1`` HTTP API of
``wormfs.wire.storage``, and ``run``). The node never decodes: it stores, serves and verifies
fragments. A component: it imports only ``wormfs`` shared code, never another component;
``__main__`` starts it through ``wormfs.runtime.startup`` like every daemon.
"""
