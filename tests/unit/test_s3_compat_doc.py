"""docs/s3-compatibility.md stays true: one row per S3 operation (every operation of
botocore's S3 model, plus browser-form POST and CORS preflight), "supported" / "partial"
exactly for the operations the gateway has a handler for, and the storage-class table names
every AWS class and the REDUCED_REDUNDANCY profile the coordinator seeds."""

from __future__ import annotations

import re
from pathlib import Path

import botocore.session

from wormfs.config import CodingConfig
from wormfs.coordinator.db.profiles import reduced_profile
from wormfs.gateway.app import ANSWERED_BY_APP
from wormfs.gateway.handlers import HANDLERS
from wormfs.wire.profiles import AWS_STORAGE_CLASSES

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
        answered = ALIASES.get(name, name) in HANDLERS or name in ANSWERED_BY_APP
        assert answered == (status != "not yet"), f"{name} is documented as {status}"


def test_every_handler_is_documented() -> None:
    assert sorted(set(HANDLERS) - set(documented())) == []


def _storage_class_section() -> str:
    text = DOC.read_text()
    start = text.index("## Storage classes")
    return text[start : text.index("\n## ", start + 1)]


def test_storage_classes_section_names_every_aws_class_once() -> None:
    """The mapping table names each class the gateway accepts as an AWS name, and no other."""
    table = [line for line in _storage_class_section().splitlines() if line.startswith("| `")]
    named = [n for line in table for n in re.findall(r"`([A-Z_]+)`", line.split(" | ")[0])]
    assert sorted(named) == sorted(AWS_STORAGE_CLASSES)


def test_storage_classes_section_states_the_reduced_redundancy_mapping() -> None:
    """The doc's RRS example is what the coordinator seeds beside the default 4+2."""
    reduced = reduced_profile(CodingConfig())
    assert (CodingConfig().k, CodingConfig().m) == (4, 2)
    assert f"({reduced.k}+{reduced.m} beside 4+2)" in _storage_class_section()
