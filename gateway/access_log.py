"""The S3 access log (gateway layer): one line per request in AWS's server access log format.

Contract: ``AccessRecord`` holds what the gateway knows of one finished request and
``AccessRecord.line()`` renders it as AWS documents the format ("Amazon S3 server access log
format"): 27 space-separated fields, ``-`` for anything empty, unknown or not applicable, the
time in brackets, the request URI, referer and user agent in double quotes (a ``"`` or ``\\``
inside them escaped with a backslash, control characters as ``\\xNN``), in this order:

 1 bucket owner       (``-``: the gateway does not look the owner up for each request)
 2 bucket             3 [time]  ``[06/Feb/2019:00:00:38 +0000]``, when the request arrived
 4 remote IP          5 requester (the user id of the signing key; ``-`` unauthenticated)
 6 request id (the ``x-amz-request-id`` answered)
 7 operation (``REST.GET.OBJECT``: REST, the method, the resource type)
 8 key (URL-encoded)  9 "request URI" (``"GET /b/k?x HTTP/1.1"``)
10 HTTP status       11 error code (the S3 error answered)
12 bytes sent (body bytes, ``-`` for none)   13 object size
14 total time (ms, from the request's arrival to the last byte sent)
15 turn-around time (ms, from the arrival to the answer's first byte)
16 "referer"         17 "user agent"        18 version id      19 host id (``x-amz-id-2``)
20 signature version (SigV2 | SigV4)        21 cipher suite (HTTPS only)
22 authentication type (AuthHeader | QueryString)
23 host header       24 TLS version (``TLSv1.3``)
25 access point ARN, 26 ACL required, 27 source region: always ``-`` (no access points,
   ACLs do not grant access, no cross-region requests)

``AccessLog`` writes lines to standard output (``"-"``) or appends them to a file (opened with
``O_APPEND``: the workers of one gateway share the file, and each line goes out in one
``write``, so lines never interleave). Writes happen on a thread of their own, behind a queue,
so a slow disk never stalls the event loop; ``close()`` flushes what is queued.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

log = logging.getLogger(__name__)

# AWS's resource type for the operations whose name does not follow the rule in
# ``aws_operation`` (the object/bucket sub-resource named by the query).
RESOURCE_TYPES = {
    "ListBuckets": "SERVICE",
    "ListObjects": "BUCKET",
    "ListObjectsV2": "BUCKET",
    "ListObjectVersions": "BUCKET",
    "CreateBucket": "BUCKET",
    "DeleteBucket": "BUCKET",
    "HeadBucket": "BUCKET",
    "DeleteObjects": "MULTI_OBJECT_DELETE",
    "CreateMultipartUpload": "UPLOADS",
    "ListMultipartUploads": "UPLOADS",
    "UploadPart": "PART",
    "UploadPartCopy": "PART",
    "ListParts": "UPLOAD",
    "CompleteMultipartUpload": "UPLOAD",
    "AbortMultipartUpload": "UPLOAD",
    "CopyObject": "OBJECT",
}


def aws_operation(method: str, name: str | None, bucket: str | None, key: str | None) -> str:
    """``REST.<METHOD>.<RESOURCE>`` as AWS logs it (``REST.PUT.OBJECT``, ``REST.GET.BUCKET``)."""
    if name in RESOURCE_TYPES:
        resource = RESOURCE_TYPES[name]
    elif bucket is None:
        resource = "SERVICE"
    elif (
        name is not None
        and name.startswith(("Get", "Put", "Delete"))
        and name
        not in (
            "GetObject",
            "PutObject",
            "DeleteObject",
        )
    ):
        # GetBucketVersioning -> VERSIONING, PutObjectTagging -> OBJECT_TAGGING.
        resource = _snake(name.removeprefix("Get").removeprefix("Put").removeprefix("Delete"))
        resource = resource.removeprefix("BUCKET_")
    else:
        resource = "OBJECT" if key is not None else "BUCKET"
    return f"REST.{method.upper()}.{resource}"


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.upper())
    return "".join(out)


def quoted(value: str) -> str:
    """A field in double quotes, its quotes, backslashes and control characters escaped."""
    escaped = []
    for ch in value:
        if ch in ('"', "\\"):
            escaped.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            escaped.append(f"\\x{ord(ch):02x}")
        else:
            escaped.append(ch)
    return '"' + "".join(escaped) + '"'


def bare(value: str | int | None) -> str:
    """An unquoted field: ``-`` when empty; spaces (which would split it) percent-encoded."""
    if value is None or value == "":
        return "-"
    return str(value).replace(" ", "%20").replace("\n", "%0A")


def log_time(epoch: float) -> str:
    return time.strftime("[%d/%b/%Y:%H:%M:%S +0000]", time.gmtime(epoch))


@dataclass
class AccessRecord:
    """One finished S3 request, as the gateway saw it."""

    start: float  # time.time() when it arrived
    remote_ip: str
    request_id: str
    host_id: str
    method: str
    request_uri: str  # path and query as sent
    http_version: str  # "HTTP/1.1"
    host: str
    referer: str
    user_agent: str
    operation: str | None = None  # the AWS operation name, once routed
    bucket: str | None = None
    key: str | None = None
    requester: str = ""
    status: int = 0
    error_code: str = ""
    bytes_sent: int = 0
    object_size: int | None = None
    total_ms: int = 0
    turnaround_ms: int | None = None
    version_id: str = ""
    signature_version: str = ""
    auth_type: str = ""
    cipher_suite: str = ""
    tls_version: str = ""

    def line(self) -> str:
        key = quote(self.key, safe="/") if self.key is not None else None
        fields = [
            "-",
            bare(self.bucket),
            log_time(self.start),
            bare(self.remote_ip),
            bare(self.requester),
            bare(self.request_id),
            aws_operation(self.method, self.operation, self.bucket, self.key),
            bare(key),
            quoted(f"{self.method} {self.request_uri} {self.http_version}"),
            bare(self.status or None),
            bare(self.error_code),
            bare(self.bytes_sent or None),
            bare(self.object_size),
            bare(self.total_ms),
            bare(self.turnaround_ms),
            quoted(self.referer or "-"),
            quoted(self.user_agent or "-"),
            bare(self.version_id),
            bare(self.host_id),
            bare(self.signature_version),
            bare(self.cipher_suite),
            bare(self.auth_type),
            bare(self.host),
            bare(self.tls_version),
            "-",
            "-",
            "-",
        ]
        return " ".join(fields)


class AccessLog:
    """Lines to ``target`` ("-": standard output; else a file appended to) off the loop."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        # Opened here, at start-up, so that a bad path fails the start and not the requests.
        if target == "-":
            self._fd = sys.stdout.fileno()
        else:
            self._fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._thread = threading.Thread(target=self._drain, name="access-log", daemon=True)
        self._thread.start()

    def write(self, record: AccessRecord) -> None:
        self._queue.put(record.line() + "\n")

    def _drain(self) -> None:
        while True:
            line = self._queue.get()
            if line is None:
                return
            data = line.encode("utf-8", "backslashreplace")
            try:
                while data:  # a short write (stdout on a pipe) leaves the rest for the next
                    written = os.write(self._fd, data)
                    data = data[written:]
            except OSError as exc:
                # The line is lost; say so, and keep serving (and logging the next ones).
                log.error("access log %s: a line could not be written: %s", self.target, exc)

    def close(self) -> None:
        """Write what is queued, then stop (blocks briefly: call it off the loop)."""
        self._queue.put(None)
        self._thread.join(timeout=10)
        if self.target != "-":
            os.close(self._fd)
