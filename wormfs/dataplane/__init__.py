"""The data plane shared by the gateway and the mount: ``ObjectWriter`` and ``ObjectReader``.

Layer: above the clients (``wormfs.clients``) and the codecs; below the gateway's ObjectService
and the FUSE operations. It moves object bytes between a caller and storage nodes, stripe by
stripe, with bounded memory (a few stripes per request) and codec/hash work off the event loop.
"""
