"""The gateway's access log lines read back field by field with a parser of AWS's format."""

from __future__ import annotations

import time
from pathlib import Path

import awslog
import pytest

from wormfs.gateway.access_log import AccessLog, AccessRecord, aws_operation


def record(**changes: object) -> AccessRecord:
    base = AccessRecord(
        start=1_549_411_238.0,  # 06/Feb/2019:00:00:38 +0000, AWS's example
        remote_ip="192.0.2.3",
        request_id="3E57427F3EXAMPLE",
        host_id="s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6Uk=",
        method="PUT",
        request_uri="/photos/2024/a%20b.jpg?x-id=PutObject",
        http_version="HTTP/1.1",
        host="127.0.0.1:9000",
        referer="",
        user_agent='Boto3/1.36 "quoted" \\ back',
        operation="PutObject",
        bucket="photos",
        key="2024/a b.jpg",
        requester="u" * 32,
        status=200,
        bytes_sent=0,
        object_size=70000,
        total_ms=12,
        turnaround_ms=11,
        version_id="v1",
        signature_version="SigV4",
        auth_type="AuthHeader",
    )
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def test_a_line_reads_back_field_by_field() -> None:
    fields = awslog.parse(record().line())
    assert fields == {
        "bucket_owner": "",
        "bucket": "photos",
        "time": "06/Feb/2019:00:00:38 +0000",
        "remote_ip": "192.0.2.3",
        "requester": "u" * 32,
        "request_id": "3E57427F3EXAMPLE",
        "operation": "REST.PUT.OBJECT",
        "key": "2024/a%20b.jpg",
        "request_uri": "PUT /photos/2024/a%20b.jpg?x-id=PutObject HTTP/1.1",
        "http_status": "200",
        "error_code": "",
        "bytes_sent": "",
        "object_size": "70000",
        "total_time": "12",
        "turn_around_time": "11",
        "referer": "",
        "user_agent": 'Boto3/1.36 "quoted" \\ back',
        "version_id": "v1",
        "host_id": "s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6Uk=",
        "signature_version": "SigV4",
        "cipher_suite": "",
        "authentication_type": "AuthHeader",
        "host_header": "127.0.0.1:9000",
        "tls_version": "",
        "access_point_arn": "",
        "acl_required": "",
        "source_region": "",
    }


def test_an_error_answer_and_control_characters() -> None:
    line = record(status=404, error_code="NoSuchKey", bytes_sent=243, user_agent="a\nb").line()
    assert "\n" not in line
    fields = awslog.parse(line)
    assert (fields["http_status"], fields["error_code"], fields["bytes_sent"]) == (
        "404",
        "NoSuchKey",
        "243",
    )
    assert fields["user_agent"] == "ax0ab"  # \x0a, its backslash read as an escape


@pytest.mark.parametrize(
    ("method", "name", "bucket", "key", "expected"),
    [
        ("GET", "GetObject", "b", "k", "REST.GET.OBJECT"),
        ("PUT", "PutObject", "b", "k", "REST.PUT.OBJECT"),
        ("HEAD", "HeadObject", "b", "k", "REST.HEAD.OBJECT"),
        ("GET", "ListObjectsV2", "b", None, "REST.GET.BUCKET"),
        ("GET", "ListBuckets", None, None, "REST.GET.SERVICE"),
        ("PUT", "CreateBucket", "b", None, "REST.PUT.BUCKET"),
        ("GET", "GetBucketVersioning", "b", None, "REST.GET.VERSIONING"),
        ("PUT", "PutObjectTagging", "b", "k", "REST.PUT.OBJECT_TAGGING"),
        ("POST", "CreateMultipartUpload", "b", "k", "REST.POST.UPLOADS"),
        ("PUT", "UploadPart", "b", "k", "REST.PUT.PART"),
        ("POST", "CompleteMultipartUpload", "b", "k", "REST.POST.UPLOAD"),
        ("POST", "DeleteObjects", "b", None, "REST.POST.MULTI_OBJECT_DELETE"),
        ("GET", None, None, None, "REST.GET.SERVICE"),
    ],
)
def test_operations_are_named_as_aws_logs_them(
    method: str, name: str | None, bucket: str | None, key: str | None, expected: str
) -> None:
    assert aws_operation(method, name, bucket, key) == expected


def test_the_log_appends_whole_lines_to_its_file(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text("earlier line\n")
    log = AccessLog(str(path))
    for i in range(50):
        log.write(record(request_id=f"R{i}"))
    log.close()
    lines = path.read_text().splitlines()
    assert lines[0] == "earlier line"
    assert [awslog.parse(line)["request_id"] for line in lines[1:]] == [f"R{i}" for i in range(50)]


def test_the_parser_refuses_a_short_line() -> None:
    with pytest.raises(ValueError):
        awslog.parse(record().line().rsplit(" ", 3)[0])
    assert time.gmtime(record().start).tm_year == 2019
