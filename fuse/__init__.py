"""The FUSE mount (``wormfs mount BUCKET[:PREFIX] MOUNTPOINT``): a POSIX front door over the
same data plane and namespace as the S3 gateway.

Layer: component (``wormfs.fuse``), beside the gateway; it shares ``wormfs/`` only and never
speaks S3. A pyfuse3 filesystem in asyncio mode on one uvloop loop: namespace operations are
coordinator transactions (``wormfs.clients.fs``, contract ``wormfs.wire.fs``); file bytes are
read with ``ObjectReader`` and written as whole new versions through ``ObjectWriter`` or an
inline put, each commit conditional on the version the writer started from.

Modules, top to bottom: ``mount`` (the process: options, cluster discovery, start and clean
stop), ``operations`` (the pyfuse3 handlers), ``files`` (open files, write-back spools and
commits), ``content`` (the data plane as the mount uses it), ``inodes`` (fuse inode numbers
and lookup counts), ``attributes`` (entries to ``EntryAttributes``), ``spool`` (the local
sparse file behind an open-for-write file), ``errnos`` (domain errors to errno, and the guard
around every handler), ``options`` (the command line; imports nothing of pyfuse3).
"""
