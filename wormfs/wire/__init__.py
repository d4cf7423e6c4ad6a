"""Wire schemas of the internal ``/v1`` HTTP APIs: typed msgspec structs, JSON on the wire.

Layer: after pure math and formats, before clients. ``common`` holds the error body and the
encode/decode helpers; ``storage`` the storage-node API; ``coordinator`` the coordinator API.
"""
