"""rclone (the Debian package) against a real cluster, over http and https.

The remote is ``type = s3, provider = Other`` with the endpoint and keys, nothing else: rclone
then sends ``x-amz-acl: private`` with every bucket and object, Content-MD5 on single PUTs,
its modification time as ``x-amz-meta-mtime``, and uses server-side copies for moves. Its
multipart threshold (200 MiB) is lowered with ``--s3-upload-cutoff`` for one upload so that
a 17 MiB file goes up in 5 MiB parts; everything else is rclone's default. Over https it
trusts the suite's CA with ``--ca-cert``. ``--retries 1`` only keeps a failure from being
retried for minutes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from integration.cluster import ACCESS_KEY, SECRET_KEY, Cluster
from s3compat.support import REGION, SIZES, digest, run_client, unique, write_files

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone is not installed"),
]


def rclone_command(cluster: Cluster, tmp_path: Path) -> list[str]:
    config = tmp_path / "rclone.conf"
    config.write_text(
        "[wormfs]\n"
        "type = s3\n"
        "provider = Other\n"
        "env_auth = false\n"
        f"access_key_id = {ACCESS_KEY}\n"
        f"secret_access_key = {SECRET_KEY}\n"
        f"endpoint = {cluster.s3_url}\n"
        f"region = {REGION}\n"
    )
    command = ["rclone", "--config", str(config), "--retries", "1"]
    if cluster.ca_bundle:
        command += ["--ca-cert", cluster.ca_bundle]
    return command


def test_rclone_session(cluster: Cluster, tmp_path: Path, client_env: dict[str, str]) -> None:
    base = rclone_command(cluster, tmp_path)

    def rclone(*args: str) -> str:
        return run_client([*base, *args], client_env)

    bucket = unique("rclone")
    remote = f"wormfs:{bucket}"
    up = tmp_path / "up"
    digests = write_files(up, SIZES)
    rclone("mkdir", remote)
    rclone("copy", str(up), f"{remote}/tree")
    # check compares sizes and MD5s (the ETags of single-part objects).
    rclone("check", str(up), f"{remote}/tree")
    rclone("copyto", "--s3-upload-cutoff", "8M", str(up / "multipart"), f"{remote}/mp")
    listed = {
        item["Path"]: item
        for item in json.loads(rclone("lsjson", "-R", "--hash", "--files-only", remote))
    }
    assert {path: item["Size"] for path, item in listed.items()} == {
        **{f"tree/{n}": size for n, size in SIZES.items()},
        "mp": SIZES["multipart"],
    }
    # The multipart object's MD5 comes back from the metadata rclone stored with it.
    multipart_md5 = listed["mp"]["Hashes"]["md5"]
    assert multipart_md5 == listed["tree/multipart"]["Hashes"]["md5"]
    rclone("copy", f"{remote}/tree", str(tmp_path / "down"))
    for name in SIZES:
        assert digest(tmp_path / "down" / name) == digests[name], name
    rclone("copyto", f"{remote}/mp", str(tmp_path / "mp"))
    assert digest(tmp_path / "mp") == digests["multipart"]
    # Server-side move, a ranged read, a sync that deletes.
    rclone("moveto", f"{remote}/mp", f"{remote}/moved/mp")
    cat = [*base, "cat", "--offset", "2097150", "--count", "10", f"{remote}/moved/mp"]
    ranged = subprocess.run(cat, env=client_env, capture_output=True, timeout=60, check=True)
    assert ranged.stdout == (up / "multipart").read_bytes()[2097150:2097160]
    (up / "empty").unlink()
    rclone("sync", str(up), f"{remote}/tree")
    remaining = rclone("lsf", "-R", "--files-only", remote).split()
    assert sorted(remaining) == sorted(["moved/mp", *(f"tree/{n}" for n in SIZES if n != "empty")])
    rclone("purge", remote)
    assert bucket not in rclone("lsd", "wormfs:")


def test_rclone_versions(cluster: Cluster, tmp_path: Path, client_env: dict[str, str]) -> None:
    """A versioned bucket as rclone sees it: ``backend versioning`` turns it on, overwrites
    and deletes keep the old versions, ``--s3-versions`` lists them (named with their time),
    and ``--s3-version-at`` reads the bucket as it was at a moment."""
    base = rclone_command(cluster, tmp_path)

    def rclone(*args: str) -> str:
        return run_client([*base, *args], client_env)

    bucket = unique("rclone-versions")
    remote = f"wormfs:{bucket}"
    rclone("mkdir", remote)
    assert rclone("backend", "versioning", remote, "Enabled").strip() == "Enabled"
    (tmp_path / "f").write_bytes(b"first")
    rclone("copyto", str(tmp_path / "f"), f"{remote}/f")
    time.sleep(1.1)  # rclone names versions by their time, to the second
    first_written = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    time.sleep(1.1)
    (tmp_path / "f").write_bytes(b"second")
    rclone("copyto", str(tmp_path / "f"), f"{remote}/f")
    names = sorted(rclone("lsf", "--s3-versions", remote).split())
    assert len(names) == 2 and "f" in names
    old = next(n for n in names if n != "f")
    assert old.startswith("f-v")  # f-vYYYY-MM-DD-HHMMSS-000
    assert rclone("cat", "--s3-versions", f"{remote}/{old}") == "first"
    assert rclone("cat", "--s3-version-at", first_written, f"{remote}/f") == "first"
    rclone("deletefile", f"{remote}/f")  # a delete marker: the versions stay
    assert rclone("lsf", remote).split() == []
    assert len(rclone("lsf", "--s3-versions", remote).split()) == 2
    assert rclone("cat", "--s3-version-at", first_written, f"{remote}/f") == "first"
    run_client([*base, "purge", "--s3-versions", remote], client_env)
