"""Wire schemas of the internal ``/v1`` HTTP APIs: typed msgspec structs, JSON on the wire.

Layer: above pure math and formats (``wormfs.format``), below config, the internal plumbing
and the clients. ``common`` holds the error body and the encode/decode helpers; ``storage``
the storage-node API and the chunk-header codec both of its ends share; ``coordinator`` the
coordinator API; ``repair`` the durability routes of both.
"""
