"""s3cmd (the Debian package) against a real cluster, over http and https.

Its configuration file holds only what points it at WormFS (host, keys, https, SigV4); all
else is s3cmd's default, including 15 MiB multipart chunks (so the 17 MiB file goes up in
two parts) and the probes ``info`` makes (policy, CORS, ACL), which must answer as AWS does
for a bucket where nothing was configured. Over https it trusts the suite's CA through
``--ca-certs`` with certificate and hostname checks on.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests
from integration.cluster import ACCESS_KEY, SECRET_KEY, Cluster
from s3compat.support import SIZES, digest, run_client, unique, write_files

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("s3cmd") is None, reason="s3cmd is not installed"),
]


def s3cmd_command(cluster: Cluster, tmp_path: Path) -> list[str]:
    host = cluster.s3_url.split("://", 1)[1]
    https = cluster.s3_url.startswith("https://")
    config = tmp_path / "s3cfg"
    config.write_text(
        "[default]\n"
        f"access_key = {ACCESS_KEY}\n"
        f"secret_key = {SECRET_KEY}\n"
        f"host_base = {host}\n"
        f"host_bucket = {host}\n"
        f"use_https = {https}\n"
        "signature_v2 = False\n"
        # signurl builds http:// links unless told the endpoint speaks https.
        f"signurl_use_https = {https}\n"
    )
    command = ["s3cmd", "--config", str(config)]
    if cluster.ca_bundle:
        command.append(f"--ca-certs={cluster.ca_bundle}")
    return command


def test_s3cmd_session(cluster: Cluster, tmp_path: Path, client_env: dict[str, str]) -> None:
    base = s3cmd_command(cluster, tmp_path)

    def s3cmd(*args: str) -> str:
        return run_client([*base, *args], client_env)

    bucket = unique("s3cmd")
    digests = write_files(tmp_path / "up", SIZES)
    s3cmd("mb", f"s3://{bucket}")
    s3cmd("put", *(str(tmp_path / "up" / n) for n in SIZES), f"s3://{bucket}/put/")
    # "DATE TIME SIZE URI" per object.
    rows = [line.split() for line in s3cmd("ls", f"s3://{bucket}/put/").splitlines()]
    assert {r[3]: int(r[2]) for r in rows} == {
        f"s3://{bucket}/put/{n}": size for n, size in SIZES.items()
    }
    info = s3cmd("info", f"s3://{bucket}/put/multipart")
    assert f"File size: {SIZES['multipart']}" in info
    assert "Policy:    none" in info and "CORS:      none" in info
    assert "FULL_CONTROL" in info
    (tmp_path / "get").mkdir()
    for name in SIZES:
        s3cmd("get", f"s3://{bucket}/put/{name}", str(tmp_path / "get" / name))
        assert digest(tmp_path / "get" / name) == digests[name], name
    # sync up (then nothing left to do), sync down.
    s3cmd("sync", f"{tmp_path / 'up'}/", f"s3://{bucket}/sync/")
    assert "upload:" not in s3cmd("sync", f"{tmp_path / 'up'}/", f"s3://{bucket}/sync/")
    s3cmd("sync", f"s3://{bucket}/sync/", f"{tmp_path / 'down'}/")
    for name in SIZES:
        assert digest(tmp_path / "down" / name) == digests[name], name
    # Server-side copy and move, metadata change, usage.
    s3cmd("cp", f"s3://{bucket}/put/stripe-plus-one", f"s3://{bucket}/copied")
    s3cmd("mv", f"s3://{bucket}/copied", f"s3://{bucket}/moved")
    s3cmd("modify", "--add-header=x-amz-meta-colour:blue", f"s3://{bucket}/moved")
    assert "x-amz-meta-colour: blue" in s3cmd("info", f"s3://{bucket}/moved")
    total = 2 * sum(SIZES.values()) + SIZES["stripe-plus-one"]
    assert s3cmd("du", f"s3://{bucket}").split()[0] == str(total)
    # A SigV2 presigned link.
    url = s3cmd("signurl", f"s3://{bucket}/moved", "+300").strip()
    got = requests.get(url, timeout=30, verify=cluster.ca_bundle or True)
    assert got.status_code == 200 and len(got.content) == SIZES["stripe-plus-one"]
    # Probes of unconfigured settings, as on AWS; ACLs as on "bucket owner enforced" buckets.
    assert "Logging Enabled: False" in s3cmd("accesslog", f"s3://{bucket}")
    s3cmd("setacl", "--acl-private", f"s3://{bucket}/moved")
    s3cmd("multipart", f"s3://{bucket}")
    s3cmd("del", "--recursive", "--force", f"s3://{bucket}")
    s3cmd("rb", f"s3://{bucket}")
    assert f"s3://{bucket}" not in s3cmd("ls")
