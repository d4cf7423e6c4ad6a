"""Object Lock through real boto3 against a real ObjectService and coordinator: buckets
created with Object Lock, Get/PutObjectLockConfiguration, retentions and legal holds (headers
on PUT, copy and multipart; Get/PutObjectRetention, Get/PutObjectLegalHold), the governance
bypass, every way to remove a locked version refused, and the errors AWS answers."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from component.s3_fixtures import (
    OTHER_ACCESS_KEY,
    OTHER_SECRET_KEY,
    S3Env,
    call,
    error_of,
    read_body,
)

LOCKED = "locked"
PLAIN = "plain"


def _in(days: float) -> datetime.datetime:
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return now + datetime.timedelta(days=days)


@pytest.fixture
async def s3(env: S3Env) -> Any:
    client = env.client()
    await call(client, "create_bucket", Bucket=LOCKED, ObjectLockEnabledForBucket=True)
    await call(client, "create_bucket", Bucket=PLAIN)
    return client


async def _put(s3: Any, key: str, body: bytes = b"data", **kwargs: Any) -> str:
    put = await call(s3, "put_object", Bucket=LOCKED, Key=key, Body=body, **kwargs)
    return str(put["VersionId"])


async def test_lock_configuration(s3: Any) -> None:
    status = await call(s3, "get_bucket_versioning", Bucket=LOCKED)
    assert status["Status"] == "Enabled"
    got = await call(s3, "get_object_lock_configuration", Bucket=LOCKED)
    assert got["ObjectLockConfiguration"] == {"ObjectLockEnabled": "Enabled"}
    rule = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}
    config = {"ObjectLockEnabled": "Enabled", "Rule": rule}
    await call(s3, "put_object_lock_configuration", Bucket=LOCKED, ObjectLockConfiguration=config)
    got = await call(s3, "get_object_lock_configuration", Bucket=LOCKED)
    assert got["ObjectLockConfiguration"] == config
    years = {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 2}},
    }
    await call(s3, "put_object_lock_configuration", Bucket=LOCKED, ObjectLockConfiguration=years)
    got = await call(s3, "get_object_lock_configuration", Bucket=LOCKED)
    assert got["ObjectLockConfiguration"] == years

    for bad, expected in (
        ({"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}}, "MalformedXML"),
        ({"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 0}}, "InvalidRetentionPeriod"),
        ({"DefaultRetention": {"Mode": "GOVERNANCE", "Years": -1}}, "InvalidRetentionPeriod"),
        ({"DefaultRetention": {"Mode": "abc", "Days": 1}}, "MalformedXML"),
    ):
        code, status_code, _ = await error_of(
            s3,
            "put_object_lock_configuration",
            Bucket=LOCKED,
            ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": bad},
        )
        assert (code, status_code) == (expected, 400), bad
    code, status_code, _ = await error_of(
        s3,
        "put_object_lock_configuration",
        Bucket=LOCKED,
        ObjectLockConfiguration={"ObjectLockEnabled": "Disabled"},
    )
    assert (code, status_code) == ("MalformedXML", 400)
    code, status_code, _ = await error_of(
        s3, "put_bucket_versioning", Bucket=LOCKED, VersioningConfiguration={"Status": "Suspended"}
    )
    assert (code, status_code) == ("InvalidBucketState", 409)

    # A bucket created without it: none to get, and none to put until versioning is on.
    code, status_code, _ = await error_of(s3, "get_object_lock_configuration", Bucket=PLAIN)
    assert (code, status_code) == ("ObjectLockConfigurationNotFoundError", 404)
    enabled = {"ObjectLockEnabled": "Enabled"}
    code, status_code, _ = await error_of(
        s3, "put_object_lock_configuration", Bucket=PLAIN, ObjectLockConfiguration=enabled
    )
    assert (code, status_code) == ("InvalidBucketState", 409)
    await call(
        s3, "put_bucket_versioning", Bucket=PLAIN, VersioningConfiguration={"Status": "Enabled"}
    )
    await call(s3, "put_object_lock_configuration", Bucket=PLAIN, ObjectLockConfiguration=enabled)
    got = await call(s3, "get_object_lock_configuration", Bucket=PLAIN)
    assert got["ObjectLockConfiguration"] == enabled


async def test_lock_headers_and_the_object_calls(s3: Any) -> None:
    until = _in(1)
    version = await _put(
        s3,
        "k",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=until,
        ObjectLockLegalHoldStatus="ON",
    )
    head = await call(s3, "head_object", Bucket=LOCKED, Key="k")
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]) == ("GOVERNANCE", until)
    assert head["ObjectLockLegalHoldStatus"] == "ON"
    got = await call(s3, "get_object_retention", Bucket=LOCKED, Key="k", VersionId=version)
    assert got["Retention"] == {"Mode": "GOVERNANCE", "RetainUntilDate": until}
    hold = await call(s3, "get_object_legal_hold", Bucket=LOCKED, Key="k")
    assert hold["LegalHold"] == {"Status": "ON"}
    await call(s3, "put_object_legal_hold", Bucket=LOCKED, Key="k", LegalHold={"Status": "OFF"})
    hold = await call(s3, "get_object_legal_hold", Bucket=LOCKED, Key="k")
    assert hold["LegalHold"] == {"Status": "OFF"}
    code, status, _ = await error_of(
        s3, "put_object_legal_hold", Bucket=LOCKED, Key="k", LegalHold={"Status": "abc"}
    )
    assert (code, status) == ("MalformedXML", 400)

    later = _in(2)
    retention = {"Mode": "GOVERNANCE", "RetainUntilDate": later}
    await call(s3, "put_object_retention", Bucket=LOCKED, Key="k", Retention=retention)
    code, status, _ = await error_of(  # shorter, without the bypass
        s3,
        "put_object_retention",
        Bucket=LOCKED,
        Key="k",
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until},
    )
    assert (code, status) == ("AccessDenied", 403)
    code, status, _ = await error_of(  # switching the mode needs the bypass too
        s3,
        "put_object_retention",
        Bucket=LOCKED,
        Key="k",
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": later},
    )
    assert (code, status) == ("AccessDenied", 403)
    await call(
        s3,
        "put_object_retention",
        Bucket=LOCKED,
        Key="k",
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": later},
        BypassGovernanceRetention=True,
    )
    code, status, _ = await error_of(  # COMPLIANCE: not even with the bypass
        s3,
        "put_object_retention",
        Bucket=LOCKED,
        Key="k",
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later},
        BypassGovernanceRetention=True,
    )
    assert (code, status) == ("AccessDenied", 403)
    code, status, _ = await error_of(
        s3,
        "put_object_retention",
        Bucket=LOCKED,
        Key="k",
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": _in(-1)},
    )
    assert (code, status) == ("InvalidArgument", 400)

    # A version that never had a retention or a hold.
    await _put(s3, "bare")
    for method in ("get_object_retention", "get_object_legal_hold"):
        code, status, _ = await error_of(s3, method, Bucket=LOCKED, Key="bare")
        assert (code, status) == ("NoSuchObjectLockConfiguration", 404)

    # A bucket without Object Lock refuses every lock request.
    await call(s3, "put_object", Bucket=PLAIN, Key="k", Body=b"x")
    for method, kwargs in (
        ("get_object_retention", {}),
        ("get_object_legal_hold", {}),
        ("put_object_retention", {"Retention": retention}),
        ("put_object_legal_hold", {"LegalHold": {"Status": "ON"}}),
        ("put_object", {"Body": b"x", "ObjectLockLegalHoldStatus": "ON"}),
    ):
        code, status, _ = await error_of(s3, method, Bucket=PLAIN, Key="k", **kwargs)
        assert (code, status) == ("InvalidRequest", 400), method
    code, status, _ = await error_of(
        s3, "put_object", Bucket=LOCKED, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE"
    )
    assert (code, status) == ("InvalidArgument", 400)  # a mode without a date


async def test_default_retention_copy_and_multipart(s3: Any) -> None:
    rule = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}
    await call(
        s3,
        "put_object_lock_configuration",
        Bucket=LOCKED,
        ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule},
    )
    before = datetime.datetime.now(datetime.UTC)
    await _put(s3, "default")
    head = await call(s3, "head_object", Bucket=LOCKED, Key="default")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert (
        abs(
            head["ObjectLockRetainUntilDate"] - (before + datetime.timedelta(days=1))
        ).total_seconds()
        < 60
    )

    # A copy takes its own request's lock (or the default), never the source's.
    until = _in(3)
    await _put(
        s3,
        "source",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
        ObjectLockLegalHoldStatus="ON",
    )
    await call(
        s3, "copy_object", Bucket=LOCKED, Key="copy", CopySource={"Bucket": LOCKED, "Key": "source"}
    )
    head = await call(s3, "head_object", Bucket=LOCKED, Key="copy")
    assert head["ObjectLockMode"] == "GOVERNANCE" and "ObjectLockLegalHoldStatus" not in head

    upload = await call(
        s3,
        "create_multipart_upload",
        Bucket=LOCKED,
        Key="mpu",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
        ObjectLockLegalHoldStatus="ON",
        ChecksumAlgorithm="CRC32",
    )
    part = await call(
        s3,
        "upload_part",
        Bucket=LOCKED,
        Key="mpu",
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=b"p" * 100,
    )
    await call(
        s3,
        "complete_multipart_upload",
        Bucket=LOCKED,
        Key="mpu",
        UploadId=upload["UploadId"],
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]}
            ]
        },
    )
    head = await call(s3, "head_object", Bucket=LOCKED, Key="mpu")
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]) == ("COMPLIANCE", until)
    assert head["ObjectLockLegalHoldStatus"] == "ON"


async def test_every_removal_of_a_locked_version_is_refused(s3: Any, env: S3Env) -> None:
    governed = await _put(
        s3, "g", b"governed", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=_in(1)
    )
    complied = await _put(
        s3, "c", b"complied", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=_in(1)
    )
    held = await _put(s3, "h", b"held", ObjectLockLegalHoldStatus="ON")
    locked = {"g": (governed, b"governed"), "c": (complied, b"complied"), "h": (held, b"held")}

    for key, (version, _) in locked.items():
        code, status, _ = await error_of(
            s3, "delete_object", Bucket=LOCKED, Key=key, VersionId=version
        )
        assert (code, status) == ("AccessDenied", 403)
        # Without a version id a delete only adds a delete marker; an overwrite a new version.
        deleted = await call(s3, "delete_object", Bucket=LOCKED, Key=key)
        assert deleted["DeleteMarker"]
        await _put(s3, key, b"newer")
    answer = await call(
        s3,
        "delete_objects",
        Bucket=LOCKED,
        Delete={"Objects": [{"Key": k, "VersionId": v} for k, (v, _) in locked.items()]},
        BypassGovernanceRetention=False,
    )
    assert sorted((e["Key"], e["Code"]) for e in answer["Errors"]) == [
        ("c", "AccessDenied"),
        ("g", "AccessDenied"),
        ("h", "AccessDenied"),
    ]
    code, status, _ = await error_of(  # COMPLIANCE and legal holds ignore the bypass
        s3,
        "delete_object",
        Bucket=LOCKED,
        Key="c",
        VersionId=complied,
        BypassGovernanceRetention=True,
    )
    assert (code, status) == ("AccessDenied", 403)
    code, status, _ = await error_of(s3, "delete_bucket", Bucket=LOCKED)
    assert (code, status) == ("BucketNotEmpty", 409)
    for key, (version, body) in locked.items():
        got = await call(s3, "get_object", Bucket=LOCKED, Key=key, VersionId=version)
        assert await read_body(got) == body

    # Another user allowed to delete versions but not to bypass governance cannot lift it.
    bob = env.client(OTHER_ACCESS_KEY, OTHER_SECRET_KEY)
    policy = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},'
        f'"Action":["s3:DeleteObjectVersion"],"Resource":"arn:aws:s3:::{LOCKED}/*"}}]}}'
    )
    await call(s3, "put_bucket_policy", Bucket=LOCKED, Policy=policy)
    code, status, _ = await error_of(
        bob,
        "delete_object",
        Bucket=LOCKED,
        Key="g",
        VersionId=governed,
        BypassGovernanceRetention=True,
    )
    assert (code, status) == ("AccessDenied", 403)

    # The owner may bypass GOVERNANCE; a hold taken off lets its version go.
    await call(
        s3,
        "delete_object",
        Bucket=LOCKED,
        Key="g",
        VersionId=governed,
        BypassGovernanceRetention=True,
    )
    await call(
        s3,
        "put_object_legal_hold",
        Bucket=LOCKED,
        Key="h",
        VersionId=held,
        LegalHold={"Status": "OFF"},
    )
    answer = await call(
        s3, "delete_objects", Bucket=LOCKED, Delete={"Objects": [{"Key": "h", "VersionId": held}]}
    )
    assert [d["Key"] for d in answer["Deleted"]] == ["h"] and "Errors" not in answer
