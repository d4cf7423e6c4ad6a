"""docs/s3-compatibility.md stays true: one row per S3 operation (every operation of
botocore's S3 model, plus browser-form POST and CORS preflight), and "supported" / "partial"
exactly for the operations the gateway has a handler for."""

from __future__ import annotations

import re
from pathlib import Path

import botocore.session

from wormfs.gateway.handlers import HANDLERS

DOC = Path(__file__).resolve().parents[2] / "docs" / "s3-compatibility.md"
ROW = re.compile(r"^\| `(\w+)` \| (supported|partial|not yet) \|", re.MULTILINE)
# Operations AWS deprecated in favour of another with the same request: the router gives the
# successor's name, so the successor's handler answers them.
ALIASES = {
    "GetBucketLifecycle": "GetBucketLifecycleConfiguration",
    "PutBucketLifecycle": "PutBucketLifecycleConfiguration",
    "GetBucketNotification": "GetBucketNotificationConfiguration",
    "PutBucketNotification": "PutBucketNotificationConfiguration",
}
# Not API actions of botocore's model, but requests S3 answers.
EXTRA = {"PostObject", "PreflightRequest"}


def documented() -> dict[str, str]:
    rows = ROW.findall(DOC.read_text())
    names = [name for name, _ in rows]
    assert len(names) == len(set(names)), "an operation is listed twice"
    return dict(rows)


def test_every_operation_is_listed() -> None:
    model = botocore.session.get_session().get_service_model("s3")
    wanted = set(model.operation_names) | EXTRA
    assert sorted(wanted - set(documented())) == []
    assert sorted(set(documented()) - wanted) == []


def test_status_matches_the_handlers() -> None:
    for name, status in documented().items():
        answered = ALIASES.get(name, name) in HANDLERS
        assert answered == (status != "not yet"), f"{name} is documented as {status}"


def test_every_handler_is_documented() -> None:
    assert sorted(set(HANDLERS) - set(documented())) == []
