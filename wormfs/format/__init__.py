"""Formats and pure math: the bottom layer of ``wormfs`` (with the codecs, ``wormfs.erasure``).

Contract: no I/O, no network, no event loop; nothing here imports a layer above it (wire
schemas, config, clients, the data plane, the runtime or a component). ``layout`` is the
profile and the stripe/segment arithmetic, ``chunkformat`` the versioned byte layout of a chunk
file (pinned by golden files), ``checksums`` the S3 checksum algorithms and the multipart
checksum rule.
"""
