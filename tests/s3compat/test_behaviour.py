"""S3 behaviour with boto3, the same tests against WormFS (http and https) and against moto.

Each test asserts what AWS documents: statuses, error codes, headers, listing shapes. moto
is the reference implementation most S3 tools test against; where it departs from AWS's
documentation the test says why (``moto_deviates``) and AWS's documentation decides. Over
https boto3 sends every checksum in an aws-chunked trailer, over http in a header, so each
upload here is checked on both paths.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import zlib
from typing import Any
from urllib.parse import unquote_plus

import crc32c
import pytest
import requests
from awscrt import checksums as crt
from botocore.exceptions import ClientError
from s3compat.support import Target, empty_bucket, outcome, unique

pytestmark = pytest.mark.integration
MIB = 1024 * 1024


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def expected_checksum(algorithm: str, data: bytes) -> str:
    if algorithm == "CRC32":
        return b64(zlib.crc32(data).to_bytes(4, "big"))
    if algorithm == "CRC32C":
        return b64(crc32c.crc32c(data).to_bytes(4, "big"))
    if algorithm == "CRC64NVME":
        return b64(crt.crc64nvme(data).to_bytes(8, "big"))
    return b64(hashlib.new(algorithm.lower(), data).digest())


def requests_verify(target: Target) -> str | bool:
    cluster = target.cluster
    return cluster.ca_bundle or True if cluster is not None else True


# ---- buckets -----------------------------------------------------------------------------------
def test_bucket_life_cycle(s3: Any) -> None:
    name = unique("life")
    assert outcome(lambda: s3.head_bucket(Bucket=name)) == (404, "404")
    s3.create_bucket(Bucket=name)
    # us-east-1 keeps its legacy answer: re-creating your own bucket succeeds.
    assert outcome(lambda: s3.create_bucket(Bucket=name)) == (200, "")
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    listed = s3.list_buckets()
    assert name in [b["Name"] for b in listed["Buckets"]]
    assert "ID" in listed["Owner"]
    # us-east-1 is shown as an empty LocationConstraint.
    assert s3.get_bucket_location(Bucket=name).get("LocationConstraint") is None
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    assert outcome(lambda: s3.delete_bucket(Bucket=name)) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket=name, Key="k")
    assert outcome(lambda: s3.delete_bucket(Bucket=name)) == (204, "")
    assert outcome(lambda: s3.delete_bucket(Bucket=name)) == (404, "NoSuchBucket")
    assert outcome(lambda: s3.list_objects_v2(Bucket=name)) == (404, "NoSuchBucket")


LAX_NAMES = pytest.mark.moto_deviates(
    "moto accepts it; AWS: names are 3-63 lower-case letters, digits, dots and hyphens, "
    "beginning and ending with a letter or digit"
)


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "a" * 64,
        pytest.param("Upper-Case", marks=LAX_NAMES),
        pytest.param("under_score", marks=LAX_NAMES),
        pytest.param("-dash-first", marks=LAX_NAMES),
    ],
)
def test_invalid_bucket_names(s3: Any, name: str) -> None:
    assert outcome(lambda: s3.create_bucket(Bucket=name)) == (400, "InvalidBucketName")


def test_unconfigured_bucket_settings(s3: Any, bucket: str) -> None:
    """What AWS answers for a bucket where nothing was ever configured."""
    missing = {
        "get_bucket_policy": "NoSuchBucketPolicy",
        "get_bucket_policy_status": "NoSuchBucketPolicy",
        "get_bucket_cors": "NoSuchCORSConfiguration",
        "get_bucket_lifecycle_configuration": "NoSuchLifecycleConfiguration",
        "get_bucket_tagging": "NoSuchTagSet",
        "get_bucket_website": "NoSuchWebsiteConfiguration",
        "get_bucket_replication": "ReplicationConfigurationNotFoundError",
        "get_object_lock_configuration": "ObjectLockConfigurationNotFoundError",
        "get_public_access_block": "NoSuchPublicAccessBlockConfiguration",
    }
    for method, code in missing.items():
        assert outcome(lambda m=method: getattr(s3, m)(Bucket=bucket)) == (404, code), method
    for method in (
        "get_bucket_logging",
        "get_bucket_notification_configuration",
        "get_bucket_accelerate_configuration",
        "get_bucket_versioning",
    ):
        answer = getattr(s3, method)(Bucket=bucket)
        answer.pop("ResponseMetadata")
        assert answer == {}, method
    assert s3.get_bucket_request_payment(Bucket=bucket).get("Payer", "BucketOwner") == (
        "BucketOwner"
    )
    for kind in ("metrics", "analytics", "inventory", "intelligent_tiering"):
        listed = getattr(s3, f"list_bucket_{kind}_configurations")(Bucket=bucket)
        assert listed["IsTruncated"] is False
    # Deleting what does not exist succeeds.
    for method in (
        "delete_bucket_policy",
        "delete_bucket_cors",
        "delete_bucket_lifecycle",
        "delete_bucket_tagging",
        "delete_bucket_website",
        "delete_bucket_encryption",
        "delete_public_access_block",
    ):
        assert outcome(lambda m=method: getattr(s3, m)(Bucket=bucket)) == (204, ""), method


@pytest.mark.moto_deviates(
    "moto answers 200 with an empty configuration; AWS answers 404 NoSuchConfiguration for "
    "an id that was never configured"
)
def test_configuration_by_unknown_id(s3: Any, bucket: str) -> None:
    code = outcome(lambda: s3.get_bucket_metrics_configuration(Bucket=bucket, Id="none"))
    assert code == (404, "NoSuchConfiguration")


@pytest.mark.moto_deviates(
    "moto predates AWS's April 2023 default: new buckets have Object Ownership "
    "BucketOwnerEnforced (ACLs disabled), so AWS answers the rule and refuses ACLs that grant "
    "access to others with AccessControlListNotSupported"
)
def test_acls_disabled_as_bucket_owner_enforced(s3: Any, bucket: str) -> None:
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    # The ACL already in force is accepted (rclone sends it with every upload).
    s3.put_object(Bucket=bucket, Key="private", Body=b"x", ACL="private")
    s3.put_object(Bucket=bucket, Key="owner", Body=b"x", ACL="bucket-owner-full-control")
    refused = outcome(lambda: s3.put_object(Bucket=bucket, Key="p", Body=b"x", ACL="public-read"))
    assert refused == (400, "AccessControlListNotSupported")
    assert outcome(lambda: s3.head_object(Bucket=bucket, Key="p")) == (404, "404")
    assert outcome(lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read")) == (
        400,
        "AccessControlListNotSupported",
    )
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]
    # Writing back the ACL in force (as s3cmd does after a copy) changes nothing and succeeds;
    # adding a grant for everyone does not.
    acl = s3.get_object_acl(Bucket=bucket, Key="private")
    policy = {"Owner": acl["Owner"], "Grants": acl["Grants"]}
    s3.put_object_acl(Bucket=bucket, Key="private", AccessControlPolicy=policy)
    everyone = {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}
    wider = {**policy, "Grants": [*acl["Grants"], {"Grantee": everyone, "Permission": "READ"}]}
    assert outcome(
        lambda: s3.put_object_acl(Bucket=bucket, Key="private", AccessControlPolicy=wider)
    ) == (400, "AccessControlListNotSupported")


# ---- objects -----------------------------------------------------------------------------------
def test_put_get_head_round_trip(s3: Any, bucket: str) -> None:
    data = b"hello, worm" * 1000
    put = s3.put_object(
        Bucket=bucket,
        Key="dir/obj.txt",
        Body=data,
        ContentType="text/plain",
        ContentDisposition='attachment; filename="obj.txt"',
        CacheControl="max-age=60",
        ContentLanguage="en",
        Metadata={"color": "blue", "Mixed-Case": "v"},
    )
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dir/obj.txt")
    assert got["Body"].read() == data
    assert got["ContentType"] == "text/plain"
    assert got["ContentDisposition"] == 'attachment; filename="obj.txt"'
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentLanguage"] == "en"
    assert got["Metadata"] == {"color": "blue", "mixed-case": "v"}
    assert got["ETag"] == put["ETag"]
    assert got["AcceptRanges"] == "bytes"
    head = s3.head_object(Bucket=bucket, Key="dir/obj.txt")
    assert head["ContentLength"] == len(data)
    assert head["LastModified"] == got["LastModified"]
    # Response header overrides.
    over = s3.get_object(Bucket=bucket, Key="dir/obj.txt", ResponseContentType="application/json")
    assert over["ContentType"] == "application/json"


@pytest.mark.parametrize(
    "key", ["a b/ü+%?#[]!.txt", "trailing/slash/", "~tilde(parens)'quote'", "x" * 1024]
)
def test_awkward_keys(s3: Any, bucket: str, key: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key[:3])
    assert [o["Key"] for o in listed["Contents"]] == [key]
    # Asked for explicitly, the encoding is left to the caller (boto3 decodes only its own).
    encoded = s3.list_objects_v2(Bucket=bucket, EncodingType="url")
    assert [unquote_plus(o["Key"]) for o in encoded["Contents"]] == [key]
    s3.delete_object(Bucket=bucket, Key=key)


@pytest.mark.moto_deviates("moto stores it; AWS limits keys to 1024 bytes (KeyTooLongError)")
def test_key_too_long(s3: Any, bucket: str) -> None:
    assert outcome(lambda: s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")) == (
        400,
        "KeyTooLongError",
    )


def test_missing_objects(s3: Any, bucket: str) -> None:
    assert outcome(lambda: s3.get_object(Bucket=bucket, Key="nope")) == (404, "NoSuchKey")
    assert outcome(lambda: s3.head_object(Bucket=bucket, Key="nope")) == (404, "404")
    # Deleting a missing key succeeds, as S3 does.
    assert outcome(lambda: s3.delete_object(Bucket=bucket, Key="nope")) == (204, "")
    missing = unique("missing")
    assert outcome(lambda: s3.get_object(Bucket=missing, Key="k")) == (404, "NoSuchBucket")
    assert outcome(lambda: s3.put_object(Bucket=missing, Key="k", Body=b"x")) == (
        404,
        "NoSuchBucket",
    )


def test_ranges(s3: Any, bucket: str) -> None:
    data = bytes(range(256)) * 40  # 10240 bytes
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    cases = {
        "bytes=0-9": (0, 10),
        "bytes=10000-": (10000, 10240),
        "bytes=-100": (10140, 10240),
        "bytes=10200-99999": (10200, 10240),
        "bytes=-99999": (0, 10240),
    }
    for header, (start, end) in cases.items():
        got = s3.get_object(Bucket=bucket, Key="r", Range=header)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206, header
        assert got["ContentRange"] == f"bytes {start}-{end - 1}/10240", header
        assert got["Body"].read() == data[start:end], header
    assert outcome(lambda: s3.get_object(Bucket=bucket, Key="r", Range="bytes=10240-")) == (
        416,
        "InvalidRange",
    )


def test_conditional_requests(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"cond")["ETag"]
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    future = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    assert outcome(lambda: s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)) == (
        304,
        "304",
    )
    assert outcome(lambda: s3.get_object(Bucket=bucket, Key="c", IfMatch='"0"')) == (
        412,
        "PreconditionFailed",
    )
    assert outcome(lambda: s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)) == (200, "")
    assert outcome(lambda: s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=future)) == (
        304,
        "304",
    )
    assert outcome(lambda: s3.head_object(Bucket=bucket, Key="c", IfUnmodifiedSince=past)) == (
        412,
        "412",
    )
    # Conditional writes: If-None-Match: * creates only; If-Match overwrites only that ETag.
    assert outcome(lambda: s3.put_object(Bucket=bucket, Key="c", Body=b"2", IfNoneMatch="*")) == (
        412,
        "PreconditionFailed",
    )
    assert outcome(lambda: s3.put_object(Bucket=bucket, Key="new", Body=b"2", IfNoneMatch="*")) == (
        200,
        "",
    )
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"cond"


@pytest.mark.moto_deviates(
    "moto omits x-amz-checksum-type, which AWS sends with every checksum it returns"
)
def test_checksums_round_trip(s3: Any, bucket: str) -> None:
    data = bytes(range(251)) * 4099
    for algorithm in ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"):
        expected = expected_checksum(algorithm, data)
        put = s3.put_object(Bucket=bucket, Key=algorithm, Body=data, ChecksumAlgorithm=algorithm)
        assert put["Checksum" + algorithm] == expected
        got = s3.get_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
        assert got["Body"].read() == data
        assert got["Checksum" + algorithm] == expected
        assert got["ChecksumType"] == "FULL_OBJECT"
    # The default (no algorithm named): boto3 sends a CRC32.
    put = s3.put_object(Bucket=bucket, Key="default", Body=data)
    assert put["ChecksumCRC32"] == expected_checksum("CRC32", data)


@pytest.mark.moto_deviates("moto stores the object without checking x-amz-checksum-crc32")
def test_wrong_checksum_and_md5(s3: Any, bucket: str) -> None:
    data = b"integrity"
    wrong_crc = expected_checksum("CRC32", b"other")
    assert outcome(
        lambda: s3.put_object(Bucket=bucket, Key="k", Body=data, ChecksumCRC32=wrong_crc)
    ) == (400, "BadDigest")
    wrong_md5 = b64(hashlib.md5(b"other").digest())
    assert outcome(
        lambda: s3.put_object(Bucket=bucket, Key="k", Body=data, ContentMD5=wrong_md5)
    ) == (400, "BadDigest")
    assert outcome(lambda: s3.head_object(Bucket=bucket, Key="k")) == (404, "404")


# ---- listings ----------------------------------------------------------------------------------
def test_list_objects_v2_shapes(s3: Any, bucket: str) -> None:
    keys = ["a/1", "a/2", "b/1", "c", "d/e/f"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    flat = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in flat["Contents"]] == keys
    assert flat["KeyCount"] == 5 and flat["IsTruncated"] is False
    assert {o["Size"] for o in flat["Contents"]} == {3, 1, 5}
    tree = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in tree["CommonPrefixes"]] == ["a/", "b/", "d/"]
    assert [o["Key"] for o in tree["Contents"]] == ["c"]
    assert tree["KeyCount"] == 4
    sub = s3.list_objects_v2(Bucket=bucket, Prefix="d/", Delimiter="/")
    assert [p["Prefix"] for p in sub["CommonPrefixes"]] == ["d/e/"]
    assert "Contents" not in sub
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="b/1")
    assert [o["Key"] for o in after["Contents"]] == ["c", "d/e/f"]
    # Paging by two: every key once, in order.
    seen: list[str] = []
    token: dict[str, str] = {}
    while True:
        page = s3.list_objects_v2(Bucket=bucket, MaxKeys=2, **token)
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = {"ContinuationToken": page["NextContinuationToken"]}
    assert seen == keys
    empty = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert empty["KeyCount"] == 0 and "Contents" not in empty


@pytest.mark.moto_deviates("moto answers a 500; AWS answers 400 InvalidArgument")
def test_bad_continuation_token(s3: Any, bucket: str) -> None:
    listing = outcome(lambda: s3.list_objects_v2(Bucket=bucket, ContinuationToken="not-a-token"))
    assert listing == (400, "InvalidArgument")


def test_list_objects_v1_and_versions(s3: Any, bucket: str) -> None:
    for key in ("k1", "k2", "k3"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"v")
    first = s3.list_objects(Bucket=bucket, MaxKeys=2)
    assert [o["Key"] for o in first["Contents"]] == ["k1", "k2"]
    assert first["IsTruncated"] is True
    rest = s3.list_objects(Bucket=bucket, Marker="k2")
    assert [o["Key"] for o in rest["Contents"]] == ["k3"]
    assert "Owner" in first["Contents"][0]
    # An unversioned bucket lists each object once, as the "null" version.
    versions = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions["Versions"]] == [
        ("k1", "null", True),
        ("k2", "null", True),
        ("k3", "null", True),
    ]


def test_delete_objects(s3: Any, bucket: str) -> None:
    for key in ("x", "y"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"d")
    answer = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "x"}, {"Key": "y"}, {"Key": "never"}]}
    )
    # A key that did not exist is reported deleted too.
    assert sorted(d["Key"] for d in answer["Deleted"]) == ["never", "x", "y"]
    assert "Errors" not in answer
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


@pytest.mark.moto_deviates("moto lists deleted keys in quiet mode; AWS reports only errors")
def test_delete_objects_quiet(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="z", Body=b"d")
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "z"}], "Quiet": True})
    assert "Deleted" not in quiet
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# ---- copies ------------------------------------------------------------------------------------
def test_copy_object(s3: Any, bucket: str) -> None:
    s3.put_object(
        Bucket=bucket, Key="src", Body=b"copy me", ContentType="text/x-src", Metadata={"a": "1"}
    )
    source = {"Bucket": bucket, "Key": "src"}
    copied = s3.copy_object(Bucket=bucket, Key="kept", CopySource=source)
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"copy me").hexdigest()}"'
    kept = s3.head_object(Bucket=bucket, Key="kept")
    assert (kept["ContentType"], kept["Metadata"]) == ("text/x-src", {"a": "1"})
    s3.copy_object(
        Bucket=bucket,
        Key="replaced",
        CopySource=source,
        MetadataDirective="REPLACE",
        ContentType="text/x-new",
        Metadata={"b": "2"},
    )
    replaced = s3.get_object(Bucket=bucket, Key="replaced")
    assert replaced["Body"].read() == b"copy me"
    assert (replaced["ContentType"], replaced["Metadata"]) == ("text/x-new", {"b": "2"})
    # Copying onto itself without changing anything is refused.
    assert outcome(lambda: s3.copy_object(Bucket=bucket, Key="src", CopySource=source)) == (
        400,
        "InvalidRequest",
    )
    assert outcome(
        lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "no"})
    ) == (404, "NoSuchKey")


@pytest.mark.moto_deviates("moto ignores x-amz-copy-source-if-match; AWS answers 412")
def test_copy_conditions(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"c")["ETag"]
    source = {"Bucket": bucket, "Key": "src"}
    assert outcome(
        lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource=source, CopySourceIfMatch='"0"')
    ) == (412, "PreconditionFailed")
    assert outcome(
        lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource=source, CopySourceIfMatch=etag)
    ) == (200, "")


# ---- multipart ---------------------------------------------------------------------------------
def test_multipart_upload(s3: Any, bucket: str) -> None:
    first, second = b"a" * (5 * MIB), b"b" * 1000
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="text/x-mp")
    upload_id = upload["UploadId"]
    listed = s3.list_multipart_uploads(Bucket=bucket)
    assert [(u["Key"], u["UploadId"]) for u in listed["Uploads"]] == [("mp", upload_id)]
    etag1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=first)[
        "ETag"
    ]
    etag2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=2, Body=second)[
        "ETag"
    ]
    parts = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts] == [
        (1, len(first), etag1),
        (2, len(second), etag2),
    ]
    complete = {"Parts": [{"PartNumber": 1, "ETag": etag1}, {"PartNumber": 2, "ETag": etag2}]}
    answer = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload=complete
    )
    joined = bytes.fromhex(etag1.strip('"')) + bytes.fromhex(etag2.strip('"'))
    assert answer["ETag"] == f'"{hashlib.md5(joined).hexdigest()}-2"'
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == first + second
    assert got["ContentType"] == "text/x-mp"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert outcome(lambda: s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)) == (
        404,
        "NoSuchUpload",
    )


@pytest.mark.moto_deviates(
    "moto ignores partNumber (the whole object, 200, no PartsCount); AWS answers the part as "
    "a range: 206 with Content-Range and x-amz-mp-parts-count"
)
def test_get_part_of_multipart_object(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    parts = []
    for number, body in ((1, b"a" * (5 * MIB)), (2, b"tail")):
        etag = s3.upload_part(
            Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=number, Body=body
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    part = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert part["ContentRange"] == f"bytes {5 * MIB}-{5 * MIB + 3}/{5 * MIB + 4}"
    assert (part["PartsCount"], part["Body"].read()) == (2, b"tail")


def test_multipart_refusals(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="bad")["UploadId"]
    bodies = {1: b"f" * (5 * MIB), 2: b"s", 3: b"t"}
    etags = {
        n: s3.upload_part(Bucket=bucket, Key="bad", UploadId=upload_id, PartNumber=n, Body=b)[
            "ETag"
        ]
        for n, b in bodies.items()
    }
    one, two, three = ({"PartNumber": n, "ETag": etags[n]} for n in bodies)

    def complete(parts: list[dict[str, Any]]) -> tuple[int, str]:
        return outcome(
            lambda: s3.complete_multipart_upload(
                Bucket=bucket, Key="bad", UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        )

    # Each case breaks one rule only: a small part before the last; an ETag that matches no
    # uploaded part.
    assert complete([one, two, three]) == (400, "EntityTooSmall")
    assert complete([{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]) == (
        400,
        "InvalidPart",
    )
    assert outcome(lambda: s3.head_object(Bucket=bucket, Key="bad")) == (404, "404")


@pytest.mark.moto_deviates("moto answers a 500; AWS answers 404 NoSuchUpload")
def test_parts_of_missing_uploads(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="bad")["UploadId"]
    s3.abort_multipart_upload(Bucket=bucket, Key="bad", UploadId=upload_id)
    assert outcome(
        lambda: s3.upload_part(
            Bucket=bucket, Key="bad", UploadId=upload_id, PartNumber=3, Body=b"x"
        )
    ) == (404, "NoSuchUpload")
    assert outcome(
        lambda: s3.upload_part(
            Bucket=bucket, Key="bad", UploadId="no-such-upload", PartNumber=1, Body=b"x"
        )
    ) == (404, "NoSuchUpload")


def test_upload_part_copy(s3: Any, bucket: str) -> None:
    source = bytes(range(256)) * (24 * 1024)  # 6 MiB
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    copy_source = {"Bucket": bucket, "Key": "src"}
    p1 = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=upload_id,
        PartNumber=1,
        CopySource=copy_source,
        CopySourceRange=f"bytes=0-{5 * MIB - 1}",
    )["CopyPartResult"]["ETag"]
    p2 = s3.upload_part_copy(
        Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=2, CopySource=copy_source
    )["CopyPartResult"]["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="dst",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1}, {"PartNumber": 2, "ETag": p2}]},
    )
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == source[: 5 * MIB] + source


@pytest.mark.moto_deviates(
    "moto completes an upload that names a part twice; AWS requires part numbers in strictly "
    "ascending order (InvalidPartOrder)"
)
def test_part_named_twice(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="twice")["UploadId"]
    etag = s3.upload_part(
        Bucket=bucket, Key="twice", UploadId=upload_id, PartNumber=1, Body=b"p" * (5 * MIB)
    )["ETag"]
    one = {"PartNumber": 1, "ETag": etag}
    done = outcome(
        lambda: s3.complete_multipart_upload(
            Bucket=bucket, Key="twice", UploadId=upload_id, MultipartUpload={"Parts": [one, one]}
        )
    )
    assert done == (400, "InvalidPartOrder")
    assert outcome(lambda: s3.head_object(Bucket=bucket, Key="twice")) == (404, "404")


@pytest.mark.moto_deviates("moto completes the upload without checking the claimed checksum")
def test_multipart_full_object_checksum(s3: Any, bucket: str) -> None:
    """An SDK given the whole object's CRC sends it on CompleteMultipartUpload (FULL_OBJECT,
    with x-amz-mp-object-size); a wrong one is BadDigest and creates nothing."""
    parts = [bytes([n]) * (5 * MIB) for n in range(2)] + [b"tail"]
    data = b"".join(parts)
    crc = expected_checksum("CRC32", data)
    for key, claimed in (("right", crc), ("wrong", expected_checksum("CRC32", b"x"))):
        upload_id = s3.create_multipart_upload(
            Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
        )["UploadId"]
        done = []
        for number, body in enumerate(parts, start=1):
            answer = s3.upload_part(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
                ChecksumAlgorithm="CRC32",
            )
            checksum = answer["ChecksumCRC32"]
            done.append({"PartNumber": number, "ETag": answer["ETag"], "ChecksumCRC32": checksum})
        result = outcome(
            lambda key=key, upload_id=upload_id, claimed=claimed, done=done: (
                s3.complete_multipart_upload(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": done},
                    ChecksumCRC32=claimed,
                    ChecksumType="FULL_OBJECT",
                    MpuObjectSize=len(data),
                )
            )
        )
        if key == "right":
            assert result == (200, "")
            head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
            assert (head["ChecksumCRC32"], head["ChecksumType"]) == (crc, "FULL_OBJECT")
        else:
            assert result == (400, "BadDigest")
            assert outcome(lambda: s3.head_object(Bucket=bucket, Key="wrong")) == (404, "404")
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def test_get_object_attributes(s3: Any, bucket: str) -> None:
    data = b"attributes" * 100
    s3.put_object(Bucket=bucket, Key="a", Body=data, ChecksumAlgorithm="SHA256")
    answer = s3.get_object_attributes(
        Bucket=bucket,
        Key="a",
        ObjectAttributes=["ETag", "Checksum", "ObjectSize", "StorageClass"],
    )
    # GetObjectAttributes shows the ETag without its quotes.
    assert answer["ETag"] == hashlib.md5(data).hexdigest()
    assert answer["ObjectSize"] == len(data)
    assert answer["StorageClass"] == "STANDARD"
    assert answer["Checksum"]["ChecksumSHA256"] == expected_checksum("SHA256", data)
    assert "LastModified" in answer


@pytest.mark.moto_deviates(
    "moto answers Get/PutObjectRetention on a bucket without Object Lock with a 500; AWS "
    "answers 400 InvalidRequest 'Bucket is missing Object Lock Configuration'"
)
def test_object_tags_and_lock(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="t", Body=b"x")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    assert outcome(lambda: s3.get_object_tagging(Bucket=bucket, Key="none")) == (404, "NoSuchKey")
    assert outcome(lambda: s3.get_object_retention(Bucket=bucket, Key="t")) == (
        400,
        "InvalidRequest",
    )


# ---- presigned URLs ----------------------------------------------------------------------------
def test_presigned_urls(s3: Any, bucket: str, target: Target) -> None:
    verify = requests_verify(target)
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "p s"}, ExpiresIn=300
    )
    assert requests.put(put_url, data=b"presigned", timeout=30, verify=verify).status_code == 200
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "p s"}, ExpiresIn=300
    )
    got = requests.get(get_url, timeout=30, verify=verify)
    assert (got.status_code, got.content) == (200, b"presigned")


@pytest.mark.moto_deviates("moto does not verify signatures (unless told to); AWS answers 403")
def test_presigned_url_for_another_key(s3: Any, bucket: str, target: Target) -> None:
    s3.put_object(Bucket=bucket, Key="other", Body=b"secret")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "mine"}, ExpiresIn=300
    )
    tampered = url.replace("/mine?", "/other?")
    answer = requests.get(tampered, timeout=30, verify=requests_verify(target))
    assert answer.status_code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in answer.content


@pytest.mark.moto_deviates(
    "moto's 404 for a key whose current version is a delete marker lacks x-amz-delete-marker; "
    "AWS sends it"
)
def test_versioning_keeps_versions_and_deletes_add_markers(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"null")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    one = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    two = s3.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=one)["Body"].read() == b"one"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"null"
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="k")
    response = info.value.response
    assert response["Error"]["Code"] == "NoSuchKey"
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    listed = s3.list_object_versions(Bucket=bucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [
        (two, False),
        (one, False),
        ("null", False),
    ]
    assert [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [
        (deleted["VersionId"], True)
    ]
    s3.delete_object(Bucket=bucket, Key="k", VersionId=deleted["VersionId"])
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    for version in (one, two, "null"):
        s3.delete_object(Bucket=bucket, Key="k", VersionId=version)
    assert "Versions" not in s3.list_object_versions(Bucket=bucket)


# ---- Object Lock and lifecycle -----------------------------------------------------------------
@pytest.mark.moto_deviates("moto answers GetObjectRetention of a version with a 500")
def test_object_lock_governance_retention_and_legal_hold(s3: Any) -> None:
    bucket = unique("lock")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    try:
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        config = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
        assert config["ObjectLockEnabled"] == "Enabled"
        until = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(
            days=1
        )
        put = s3.put_object(
            Bucket=bucket,
            Key="k",
            Body=b"locked",
            ObjectLockMode="GOVERNANCE",
            ObjectLockRetainUntilDate=until,
        )
        version = put["VersionId"]
        retention = s3.get_object_retention(Bucket=bucket, Key="k", VersionId=version)
        assert retention["Retention"] == {"Mode": "GOVERNANCE", "RetainUntilDate": until}
        head = s3.head_object(Bucket=bucket, Key="k")
        assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]) == ("GOVERNANCE", until)
        denied = outcome(lambda: s3.delete_object(Bucket=bucket, Key="k", VersionId=version))
        assert denied == (403, "AccessDenied")
        s3.put_object_legal_hold(Bucket=bucket, Key="k", LegalHold={"Status": "ON"})
        assert s3.get_object_legal_hold(Bucket=bucket, Key="k")["LegalHold"] == {"Status": "ON"}
        held = outcome(
            lambda: s3.delete_object(
                Bucket=bucket, Key="k", VersionId=version, BypassGovernanceRetention=True
            )
        )
        assert held == (403, "AccessDenied")  # a legal hold yields to no bypass
        s3.put_object_legal_hold(Bucket=bucket, Key="k", LegalHold={"Status": "OFF"})
        s3.delete_object(Bucket=bucket, Key="k", VersionId=version, BypassGovernanceRetention=True)
        suspended = outcome(
            lambda: s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}
            )
        )
        assert suspended == (409, "InvalidBucketState")
    finally:
        empty_bucket(s3, bucket)


@pytest.mark.moto_deviates("moto answers InvalidBucketState with 400; AWS with 409 Conflict")
def test_object_lock_needs_a_lock_bucket(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    retention = {"Mode": "GOVERNANCE", "RetainUntilDate": datetime.datetime(2099, 1, 1)}
    refused = outcome(lambda: s3.put_object_retention(Bucket=bucket, Key="k", Retention=retention))
    assert refused == (400, "InvalidRequest")
    config = {"ObjectLockEnabled": "Enabled"}
    answer = outcome(
        lambda: s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=config)
    )
    assert answer == (409, "InvalidBucketState")  # versioning is not enabled


@pytest.mark.moto_deviates("moto sends no x-amz-expiration header")
def test_lifecycle_configuration_round_trip(s3: Any, bucket: str) -> None:
    rules = [
        {
            "ID": "logs",
            "Filter": {"Prefix": "logs/"},
            "Status": "Enabled",
            "Expiration": {"Days": 30},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        },
        {
            "ID": "old",
            "Filter": {"Prefix": ""},
            "Status": "Disabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
        },
    ]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"] == rules
    put = s3.put_object(Bucket=bucket, Key="logs/a", Body=b"x")
    assert 'rule-id="logs"' in put["Expiration"]
    s3.delete_bucket_lifecycle(Bucket=bucket)
    missing = outcome(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket))
    assert missing == (404, "NoSuchLifecycleConfiguration")
