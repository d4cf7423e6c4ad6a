"""A browser form upload (POST Object): a real HTML form, filled and sent by headless Chromium.

The page is the kind a web application serves: the fields of a presigned POST (a SigV4 policy
with conditions) and a file input; the browser builds the multipart/form-data body itself.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import pytest
from integration.cluster import Cluster

pytestmark = pytest.mark.integration  # real processes: their logs are scanned

BUCKET = "uploads"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(root=tmp_path_factory.mktemp("post-cluster"))
    try:
        cluster.start()
    except BaseException:
        print(cluster.logs())
        cluster.cleanup()
        raise
    try:
        yield cluster
    finally:
        cluster.cleanup()


def _form(url: str, fields: dict[str, str]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items()
    )
    return (
        f'<html><body><form action="{html.escape(url)}" method="post" '
        f'enctype="multipart/form-data">{hidden}<input type="file" name="file">'
        '<button type="submit">Upload</button></form></body></html>'
    )


def test_a_browser_uploads_a_file_through_an_html_form(chromium: Any, cluster: Cluster) -> None:
    s3 = cluster.s3()
    s3.create_bucket(Bucket=BUCKET)
    post = s3.generate_presigned_post(
        BUCKET,
        "photos/${filename}",
        Fields={"success_action_status": "201", "Content-Type": "text/plain"},
        Conditions=[
            ["starts-with", "$key", "photos/"],
            {"success_action_status": "201"},
            {"Content-Type": "text/plain"},
            ["content-length-range", 1, 1024 * 1024],
        ],
        ExpiresIn=300,
    )
    data = b"sent by a browser\n" * 1000
    page = chromium.new_context().new_page()
    try:
        page.set_content(_form(post["url"], post["fields"]))
        page.set_input_files(
            "input[type=file]",
            files=[{"name": "cat.txt", "mimeType": "text/plain", "buffer": data}],
        )
        with page.expect_navigation():
            page.click("button[type=submit]")
        answer = page.content()
        assert "<key>photos/cat.txt</key>" in answer.lower(), answer
    finally:
        page.context.close()
    got = s3.get_object(Bucket=BUCKET, Key="photos/cat.txt")
    assert got["Body"].read() == data
    assert got["ContentType"] == "text/plain"

    # A file the policy's size range refuses is not stored; the browser shows S3's error.
    big = b"x" * (1024 * 1024 + 1)
    page = chromium.new_context().new_page()
    try:
        page.set_content(_form(post["url"], post["fields"]))
        page.set_input_files(
            "input[type=file]", files=[{"name": "big.txt", "mimeType": "text/plain", "buffer": big}]
        )
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert "EntityTooLarge" in page.content()
    finally:
        page.context.close()
    listed = s3.list_objects_v2(Bucket=BUCKET)
    assert [o["Key"] for o in listed["Contents"]] == ["photos/cat.txt"]
