"""Lifecycle configurations through real boto3 against a real ObjectService and coordinator:
Put/Get/DeleteBucketLifecycleConfiguration with every filter form and action, AWS's
validation errors, and the ``x-amz-expiration`` header of PUT, GET and HEAD. (The rules'
actions are the coordinator's worker's: test_coordinator_lifecycle.py.)"""

from __future__ import annotations

import datetime
import email.utils
from typing import Any

import pytest
from component.s3_fixtures import S3Env, call, error_of

RULES: list[dict[str, Any]] = [
    {"ID": "legacy", "Prefix": "old/", "Status": "Enabled", "Expiration": {"Days": 30}},
    {
        "ID": "tagged",
        "Filter": {"Tag": {"Key": "tmp", "Value": "yes"}},
        "Status": "Enabled",
        "Expiration": {"Days": 1},
    },
    {
        "ID": "and",
        "Filter": {
            "And": {
                "Prefix": "logs/",
                "Tags": [{"Key": "a", "Value": "1"}],
                "ObjectSizeGreaterThan": 10,
                "ObjectSizeLessThan": 1000,
            }
        },
        "Status": "Disabled",
        "Expiration": {"Date": datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)},
    },
    {
        "ID": "versions",
        "Filter": {"Prefix": ""},
        "Status": "Enabled",
        "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3},
    },
    {
        "ID": "markers",
        "Filter": {"ObjectSizeGreaterThan": 0},
        "Status": "Enabled",
        "Expiration": {"ExpiredObjectDeleteMarker": True},
    },
]


@pytest.fixture
async def s3(env: S3Env) -> Any:
    client = env.client()
    await call(client, "create_bucket", Bucket="bkt")
    return client


async def _put(s3: Any, rules: list[dict[str, Any]]) -> Any:
    return await call(
        s3,
        "put_bucket_lifecycle_configuration",
        Bucket="bkt",
        LifecycleConfiguration={"Rules": rules},
    )


async def _refused(s3: Any, rules: list[dict[str, Any]]) -> tuple[str, int]:
    code, status, _ = await error_of(
        s3,
        "put_bucket_lifecycle_configuration",
        Bucket="bkt",
        LifecycleConfiguration={"Rules": rules},
    )
    return code, status


async def test_configuration_round_trip(s3: Any) -> None:
    code, status, _ = await error_of(s3, "get_bucket_lifecycle_configuration", Bucket="bkt")
    assert (code, status) == ("NoSuchLifecycleConfiguration", 404)
    await _put(s3, RULES)
    got = await call(s3, "get_bucket_lifecycle_configuration", Bucket="bkt")
    assert got["Rules"] == RULES
    # A rule without an ID gets one.
    await _put(s3, [{"Filter": {"Prefix": "x"}, "Status": "Enabled", "Expiration": {"Days": 2}}])
    (rule,) = (await call(s3, "get_bucket_lifecycle_configuration", Bucket="bkt"))["Rules"]
    assert rule["ID"] and rule["Expiration"] == {"Days": 2}
    await call(s3, "delete_bucket_lifecycle", Bucket="bkt")
    code, status, _ = await error_of(s3, "get_bucket_lifecycle_configuration", Bucket="bkt")
    assert (code, status) == ("NoSuchLifecycleConfiguration", 404)


def _rule(**fields: Any) -> dict[str, Any]:
    return {"ID": "r", "Filter": {"Prefix": ""}, "Status": "Enabled", **fields}


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([_rule(Expiration={"Days": 0})], ("InvalidArgument", 400)),
        (
            [_rule(Expiration={"Date": datetime.datetime(2030, 1, 1, 12, tzinfo=datetime.UTC)})],
            ("InvalidArgument", 400),
        ),
        ([_rule(NoncurrentVersionExpiration={"NoncurrentDays": 0})], ("InvalidArgument", 400)),
        (
            [_rule(AbortIncompleteMultipartUpload={"DaysAfterInitiation": -1})],
            ("InvalidArgument", 400),
        ),
        ([_rule(Expiration={"Days": 1}), _rule(Expiration={"Days": 2})], ("InvalidArgument", 400)),
        ([_rule(ID="x" * 256, Expiration={"Days": 1})], ("InvalidArgument", 400)),
        ([_rule(Status="enabled", Expiration={"Days": 1})], ("MalformedXML", 400)),
        ([_rule()], ("InvalidRequest", 400)),
        (
            [
                _rule(
                    Filter={"Tag": {"Key": "k", "Value": "v"}},
                    AbortIncompleteMultipartUpload={"DaysAfterInitiation": 1},
                )
            ],
            ("InvalidRequest", 400),
        ),
        (
            [
                _rule(
                    Filter={"And": {"ObjectSizeGreaterThan": 100, "ObjectSizeLessThan": 10}},
                    Expiration={"Days": 1},
                )
            ],
            ("InvalidArgument", 400),
        ),
        ([_rule(Transitions=[{"Days": 1, "StorageClass": "GLACIER"}])], ("NotImplemented", 501)),
    ],
)
async def test_invalid_configurations(
    s3: Any, rules: list[dict[str, Any]], expected: tuple[str, int]
) -> None:
    assert await _refused(s3, rules) == expected


async def test_expiration_header(s3: Any) -> None:
    await _put(s3, RULES[:2])
    put = await call(s3, "put_object", Bucket="bkt", Key="old/a", Body=b"x")
    header = put["ResponseMetadata"]["HTTPHeaders"]["x-amz-expiration"]
    assert header.endswith('rule-id="legacy"')
    expiry = email.utils.parsedate_to_datetime(header.split('"')[1])
    head = await call(s3, "head_object", Bucket="bkt", Key="old/a")
    written = head["LastModified"]
    # Thirty days after the write, at the next midnight UTC.
    assert (expiry.hour, expiry.minute) == (0, 0)
    assert datetime.timedelta(days=30) < expiry - written <= datetime.timedelta(days=31)
    assert head["Expiration"] == header
    tagged = await call(s3, "put_object", Bucket="bkt", Key="t", Body=b"x", Tagging="tmp=yes")
    assert tagged["Expiration"].endswith('rule-id="tagged"')
    got = await call(s3, "get_object", Bucket="bkt", Key="t")
    assert got["Expiration"] == tagged["Expiration"]
    await call(s3, "put_object", Bucket="bkt", Key="other", Body=b"x")
    plain = await call(s3, "head_object", Bucket="bkt", Key="other")
    assert "Expiration" not in plain
