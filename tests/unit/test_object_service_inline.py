"""ObjectService's choice between inline and chunked storage, over a recording coordinator.

Unit level: the coordinator is a stand-in that records the calls the service makes and answers
the inline path (the chunked path is stopped at ``begin_write``), so these tests pin which
calls each operation makes: a small PUT (or copy) is one ``put_inline`` carrying the verified
bytes, with no separate bucket lookup and no chunk write; reads and deletes pass ``owner_id``
instead of looking the bucket up. The whole path over a real coordinator and storage node is
in ``tests/component/test_s3_inline.py``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from typing import Any, cast

import pytest

from wormfs.clients.coordinator import CoordinatorClient
from wormfs.clients.storage import StorageClient
from wormfs.errors import BadDigestError, IncompleteBodyError
from wormfs.format.checksums import checksum_b64
from wormfs.format.layout import Profile
from wormfs.gateway.object_service import ObjectService
from wormfs.gateway.service import DataChecks, Principal, PutConditions
from wormfs.wire.coordinator import (
    BeginWrite,
    BucketInfo,
    DeleteResult,
    ObjectAttributes,
    ObjectChecksum,
    ObjectManifest,
    PutInline,
)

PROFILE = Profile(codec="zfec", k=4, m=2, stripe_size=65536)
ALICE = Principal(user_id="user-1", display_name="alice", access_key="AK1")
INLINE_MAX = 64 * 1024


class ChunkedPath(Exception):
    """Raised by the stand-in's ``begin_write``: the service took the chunked path."""


class RecordingCoordinator:
    """Records the ``CoordinatorClient`` calls ObjectService makes (name, argument)."""

    http: Any = None  # the chunk reporter's client; never used by these tests

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    async def put_inline(self, request: PutInline) -> ObjectManifest:
        self.calls.append(("put_inline", request))
        return ObjectManifest(
            bucket=request.bucket,
            key=request.key,
            version_id="v1",
            owner_id=request.owner_id,
            size=request.size,
            etag=request.etag,
            last_modified=0.0,
            profile=PROFILE,
            parts=[],
            checksum=request.checksum,
        )

    async def get_bucket(self, name: str) -> BucketInfo:
        self.calls.append(("get_bucket", name))
        return BucketInfo(name, ALICE.user_id, ALICE.display_name, 0.0, "us-east-1")

    async def begin_write(self, request: BeginWrite) -> Any:
        self.calls.append(("begin_write", request))
        raise ChunkedPath()

    async def get_object(
        self, bucket: str, key: str, version_id: str | None = None, owner_id: str | None = None
    ) -> ObjectManifest:
        self.calls.append(("get_object", (bucket, key, version_id, owner_id)))
        return inline_manifest(b"hello")

    async def delete_object(
        self,
        bucket: str,
        key: str,
        version_id: str | None = None,
        owner_id: str | None = None,
        conditions: object = None,
        bypass_governance: bool = False,
    ) -> DeleteResult:
        self.calls.append(("delete_object", (bucket, key, version_id, owner_id)))
        return DeleteResult(version_id=None)


class Body:
    """A decoded request body in pieces, with optional trailing checksums."""

    def __init__(
        self, data: bytes, piece: int = 10_000, trailers: Mapping[str, str] | None = None
    ) -> None:
        self._pieces = [data[i : i + piece] for i in range(0, len(data), piece)]
        self._trailers = dict(trailers or {})
        self.exhausted = False

    async def read(self) -> bytes:
        if self._pieces:
            return self._pieces.pop(0)
        self.exhausted = True
        return b""

    def trailing_checksums(self) -> Mapping[str, str]:
        assert self.exhausted, "trailers are valid only after the end of the body"
        return self._trailers


def inline_manifest(data: bytes) -> ObjectManifest:
    return ObjectManifest(
        bucket="src",
        key="small",
        version_id="v0",
        owner_id=ALICE.user_id,
        size=len(data),
        etag=f'"{hashlib.md5(data).hexdigest()}"',
        last_modified=0.0,
        profile=PROFILE,
        parts=[],
        checksum=ObjectChecksum(algorithm="CRC32", value=checksum_b64("CRC32", data)),
        inline=data,
    )


def service(inline_max: int = INLINE_MAX) -> tuple[ObjectService, RecordingCoordinator]:
    coordinator = RecordingCoordinator()
    storage = cast(StorageClient, object())  # the chunked path stops before any chunk write
    return ObjectService(cast(CoordinatorClient, coordinator), storage, inline_max), coordinator


async def put(
    svc: ObjectService,
    body: Body,
    size: int,
    checks: DataChecks = DataChecks(),
    conditions: PutConditions = PutConditions(),
) -> ObjectManifest:
    attributes = ObjectAttributes(content_type="text/plain", user_metadata={"a": "1"})
    return await svc.put_object(ALICE, "b", "k", size, body, attributes, checks, conditions)


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


async def test_small_put_is_one_inline_call_with_verified_bytes() -> None:
    svc, coordinator = service()
    data = os.urandom(4096)
    checks = DataChecks(md5_b64(data), "CRC32", checksum_b64("CRC32", data))
    conditions = PutConditions(if_none_match="*")
    manifest = await put(svc, Body(data, piece=1000), len(data), checks, conditions)
    assert coordinator.names() == ["put_inline"]  # no bucket lookup, no grant
    request = coordinator.calls[0][1]
    assert request.data == data and request.size == len(data)
    assert request.owner_id == ALICE.user_id
    assert request.etag == f'"{hashlib.md5(data).hexdigest()}"'
    assert request.checksum == ObjectChecksum("CRC32", checksum_b64("CRC32", data))
    wanted = ObjectAttributes(content_type="text/plain", user_metadata={"a": "1"})
    assert request.attributes == wanted
    assert (request.if_match, request.if_none_match) == (None, "*")
    assert manifest.etag == request.etag


@pytest.mark.parametrize(
    ("inline_max", "size", "inlined"),
    [
        (INLINE_MAX, 0, True),
        (INLINE_MAX, INLINE_MAX, True),
        (INLINE_MAX, INLINE_MAX + 1, False),
        (0, 0, False),  # 0 disables inlining, even of empty objects
        (0, 1, False),
    ],
)
async def test_the_size_decides(inline_max: int, size: int, inlined: bool) -> None:
    svc, coordinator = service(inline_max)
    if inlined:
        await put(svc, Body(os.urandom(size)), size)
        assert coordinator.names() == ["put_inline"]
    else:
        with pytest.raises(ChunkedPath):
            await put(svc, Body(os.urandom(size)), size)
        assert coordinator.names() == ["get_bucket", "begin_write"]


async def test_checksum_trailer_is_verified_and_stored() -> None:
    svc, coordinator = service()
    data = os.urandom(3000)
    good = {"crc32c": checksum_b64("CRC32C", data)}
    await put(svc, Body(data, trailers=good), len(data), DataChecks(checksum_algorithm="CRC32C"))
    assert coordinator.calls[0][1].checksum.value == good["crc32c"]
    bad = {"crc32c": checksum_b64("CRC32C", b"other")}
    with pytest.raises(BadDigestError) as raised:
        await put(svc, Body(data, trailers=bad), len(data), DataChecks(checksum_algorithm="CRC32C"))
    assert (raised.value.algorithm, raised.value.expected) == ("crc32c", bad["crc32c"])
    assert coordinator.names() == ["put_inline"]  # the bad one committed nothing


async def test_bad_bodies_commit_nothing() -> None:
    svc, coordinator = service()
    data = os.urandom(5000)
    with pytest.raises(BadDigestError) as raised:
        await put(svc, Body(data), len(data), DataChecks(content_md5=md5_b64(b"other")))
    assert raised.value.fields() == {
        "algorithm": "md5",
        "expected": md5_b64(b"other"),
        "computed": md5_b64(data),
    }
    with pytest.raises(IncompleteBodyError):
        await put(svc, Body(data), len(data) + 1)  # short
    with pytest.raises(IncompleteBodyError):
        await put(svc, Body(data), len(data) - 1)  # long
    assert coordinator.calls == []


async def test_reads_and_deletes_leave_ownership_to_the_coordinator() -> None:
    svc, coordinator = service()
    manifest = await svc.head_object(ALICE, "b", "k", "v9")
    assert manifest.inline == b"hello"
    await svc.delete_object(ALICE, "b", "k")
    assert coordinator.calls == [
        ("get_object", ("b", "k", "v9", ALICE.user_id)),
        ("delete_object", ("b", "k", None, ALICE.user_id)),
    ]


async def test_copy_of_a_small_object_is_inline_too() -> None:
    svc, coordinator = service()
    data = os.urandom(2048)
    source = inline_manifest(data)
    await svc.copy_object(ALICE, source, "b", "copy", ObjectAttributes())
    assert coordinator.names() == ["put_inline"]
    request = coordinator.calls[0][1]
    assert (request.key, request.data, request.etag) == ("copy", data, source.etag)
    assert request.checksum == source.checksum  # the source's algorithm, recomputed
    # Above inline_max the copy goes to chunks as before.
    svc, coordinator = service(inline_max=1024)
    with pytest.raises(ChunkedPath):
        await svc.copy_object(ALICE, source, "b", "copy", ObjectAttributes())
    assert coordinator.names() == ["get_bucket", "begin_write"]
