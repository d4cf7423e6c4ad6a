"""The FUSE mount (``wormfs.fuse``, planned): one bucket as a POSIX file system.

Layer: a component; it imports only ``wormfs`` shared code, never another component (in
particular not the gateway: it shares the data plane, ``wormfs.dataplane``, instead of
speaking S3). Contract, once built: pyfuse3 operations, an inode table, write-back buffers
and read-ahead over the same ``ObjectWriter``/``ObjectReader`` as the gateway, with the same
skeleton as the other components (``app``, and ``__main__`` through ``wormfs.runtime``).
"""
