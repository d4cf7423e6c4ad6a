"""The UI's presigned URLs match botocore's for the same request, time and keys."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from wormfs.coordinator.ui.presign import presign

NOW = 1_780_000_000.0
AK, SK = "AKIDEXAMPLE000000000", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def _botocore_url(method: str, bucket: str, key: str, monkeypatch: pytest.MonkeyPatch) -> str:
    import datetime as dt

    import botocore.auth

    class _Fixed(dt.datetime):
        @classmethod
        def utcnow(cls) -> dt.datetime:  # type: ignore[override]
            return dt.datetime.fromtimestamp(NOW, dt.UTC).replace(tzinfo=None)

        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
            return dt.datetime.fromtimestamp(NOW, tz or dt.UTC)

    monkeypatch.setattr(botocore.auth.datetime, "datetime", _Fixed)
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9000",
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    with Stubber(client):
        op = {"GET": "get_object", "DELETE": "delete_object"}[method]
        return client.generate_presigned_url(
            op, Params={"Bucket": bucket, "Key": key}, ExpiresIn=60
        )


@pytest.mark.parametrize(
    ("method", "key"),
    [("GET", "plain.txt"), ("GET", "dir/sub/with space+plus é.bin"), ("DELETE", "a~b_c-d.e")],
)
def test_presign_agrees_with_botocore(
    method: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = presign(method, "http://127.0.0.1:9000", "photos", key, AK, SK, NOW, 60)
    theirs = _botocore_url(method, "photos", key, monkeypatch)
    a, b = urlsplit(ours), urlsplit(theirs)
    assert (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)
    assert parse_qs(a.query) == parse_qs(b.query)


def test_signature_changes_with_every_input() -> None:
    base = presign("GET", "http://127.0.0.1:9000", "photos", "k", AK, SK, NOW)
    for other in (
        presign("DELETE", "http://127.0.0.1:9000", "photos", "k", AK, SK, NOW),
        presign("GET", "http://127.0.0.1:9001", "photos", "k", AK, SK, NOW),
        presign("GET", "http://127.0.0.1:9000", "photos", "k2", AK, SK, NOW),
        presign("GET", "http://127.0.0.1:9000", "photos", "k", AK, SK + "x", NOW),
        presign("GET", "http://127.0.0.1:9000", "photos", "k", AK, SK, NOW + 1),
    ):
        assert (
            parse_qs(urlsplit(other).query)["X-Amz-Signature"]
            != (parse_qs(urlsplit(base).query)["X-Amz-Signature"])
        )
