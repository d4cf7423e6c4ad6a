"""A reader of AWS's S3 server access log format, written from AWS's description of it.

Test support (not installed): the check that the gateway's access log is what log tools
expect. ``parse(line)`` splits one record into its 27 named fields (``FIELDS``): fields are
separated by single spaces; a field in ``[...]`` (the time) or in double quotes (request URI,
referer, user agent; a quote or backslash inside escaped with a backslash) may hold spaces;
``-`` (or ``"-"``) means empty and is returned as "". A line that does not split into
exactly 27 fields raises ``ValueError``.
"""

from __future__ import annotations

FIELDS = (
    "bucket_owner",
    "bucket",
    "time",
    "remote_ip",
    "requester",
    "request_id",
    "operation",
    "key",
    "request_uri",
    "http_status",
    "error_code",
    "bytes_sent",
    "object_size",
    "total_time",
    "turn_around_time",
    "referer",
    "user_agent",
    "version_id",
    "host_id",
    "signature_version",
    "cipher_suite",
    "authentication_type",
    "host_header",
    "tls_version",
    "access_point_arn",
    "acl_required",
    "source_region",
)


def split(line: str) -> list[str]:
    fields: list[str] = []
    i, n = 0, len(line)
    while i < n:
        if line[i] == "[":
            end = line.index("]", i)
            fields.append(line[i + 1 : end])
            i = end + 1
        elif line[i] == '"':
            out, i = [], i + 1
            while line[i] != '"':
                if line[i] == "\\":
                    i += 1
                out.append(line[i])
                i += 1
            value = "".join(out)
            fields.append("" if value == "-" else value)  # AWS writes "-" for no referer
            i += 1
        else:
            end = line.find(" ", i)
            end = n if end < 0 else end
            token = line[i:end]
            fields.append("" if token == "-" else token)
            i = end
        if i < n:
            if line[i] != " ":
                raise ValueError(f"no space after field {len(fields)} at {i}: {line!r}")
            i += 1
    return fields


def parse(line: str) -> dict[str, str]:
    fields = split(line.rstrip("\n"))
    if len(fields) != len(FIELDS):
        raise ValueError(f"{len(fields)} fields, not {len(FIELDS)}: {line!r}")
    return dict(zip(FIELDS, fields, strict=True))
