"""The admin API through real processes: ``wormfs server``'s admin address, first token and
server.json; health without a token; a killed storage node as a reason in health."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from integration.cluster import Cluster
from integration.durability_helpers import fast_config
from integration.servers import Server, server_env, wormfs_command
from waiting import wait_until

TOKEN = "wfa_integration-admin-token-0123456789abcdefghijklmnop"


def admin_get(url: str, path: str, token: str = "") -> tuple[int, Any]:
    request = urllib.request.Request(url + "/admin/v1" + path)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _status(url: str, path: str, token: str) -> int:
    """The status of a GET, or 0 while nothing answers (a restarting coordinator)."""
    try:
        return admin_get(url, path, token)[0]
    except (urllib.error.URLError, ConnectionError):
        return 0


def test_server_admin_address_first_token_and_health(tmp_path: Path) -> None:
    server = Server(tmp_path, ["--workers", "1"]).start()
    try:
        url = server.status()["admin_url"]
        assert url.startswith("http://127.0.0.1:")
        token_file = server.data_dir / "admin.token"
        token = token_file.read_text().strip()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        status, health = admin_get(url, "/health")
        assert (status, health["status"], health["reasons"]) == (200, "healthy", [])
        assert admin_get(url, "/cluster")[0] == 401
        status, cluster = admin_get(url, "/cluster", token)
        assert (status, cluster["nodes_online"], cluster["disks_online"]) == (200, 1, 6)
        assert f"Admin API:    {url}/admin/v1/" in server.log_text()
        # A restarted coordinator serves the admin API on the same port, with the same token.
        server.kill_child("coordinator")
        server.wait_restarted("coordinator", 1)
        assert server.status()["admin_url"] == url
        wait_until(lambda: _status(url, "/cluster", token) == 200, 30, message="admin back")
    finally:
        server.stop()
    server.start()  # the same token file, the same token; it is printed the first time only
    try:
        assert token_file.read_text().strip() == token
        assert admin_get(server.status()["admin_url"], "/nodes", token)[0] == 200
        assert server.log_text().count(token) == 1
        assert f"Admin token:  in {token_file}" in server.log_text()
    finally:
        server.stop()


def test_server_refuses_a_taken_admin_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = server_env(tmp_path / "data", 0)
        env["WORMFS_ADMIN_ADDRESS"] = f"127.0.0.1:{port}"
        done = subprocess.run(
            [wormfs_command(), "server"], env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in done.stderr
    assert "--admin-address (or WORMFS_ADMIN_ADDRESS)" in done.stderr


def test_killed_storage_node_is_a_health_reason_in_time(tmp_path: Path) -> None:
    # Top-level keys first: TOML puts every key after a table header into that table.
    config = f'admin_token = "{TOKEN}"\n' + fast_config().replace(
        "[durability]", '[admin_listen]\nhost = "127.0.0.1"\nport = 0\n\n[durability]', 1
    )
    cluster = Cluster(nodes=3, disks_per_node=2, coordinator_config=config, root=tmp_path / "c")
    try:
        cluster.start()
        ready = cluster.procs["coordinator"].ready_file
        url = json.loads(ready.with_name(ready.stem + ".admin.json").read_text())["address"]
        assert admin_get(url, "/health")[1]["status"] == "healthy"
        nodes = admin_get(url, "/nodes", TOKEN)[1]["items"]
        ports = {n["address"]: n["node_id"] for n in nodes}
        victim = ports[cluster.procs["node1"].address]
        cluster.kill_node(1)
        offline_after = 3.0  # fast_config's node_offline_after

        def reason() -> Any:
            status, body = admin_get(url, "/health")
            found = [
                r for r in body["reasons"] if (r["kind"], r["target"]) == ("node_down", victim)
            ]
            return (status, body["status"]) if found else None

        assert wait_until(reason, offline_after + 5, message="node down in health") == (
            200,
            "degraded",
        )
        status, node = admin_get(url, f"/nodes/{victim}", TOKEN)
        assert (status, node["node"]["state"]) == (200, "offline")
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.cleanup()


def _cli(server: Server, *args: str, code: int = 0) -> str:
    env = {**server_env(server.data_dir, server.port), "COLUMNS": "200"}
    done = subprocess.run(
        [wormfs_command(), "admin", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == code, done.stderr
    return done.stdout if code == 0 else done.stderr


def test_admin_cli_over_the_admin_api(tmp_path: Path) -> None:
    server = Server(tmp_path, ["--workers", "1"]).start()
    try:
        made = json.loads(_cli(server, "token", "create", "ci", "--scope", "read", "--json"))
        assert made["token"].startswith("wfa_") and made["info"]["scope"] == "read"
        listed = _cli(server, "token", "list")
        assert "ci  read" in listed and made["token"] not in listed
        assert "revoked" in _cli(server, "token", "revoke", "ci")
        refused = _cli(server, "token", "list", "--token", made["token"], code=1)
        assert "Unauthorized" in refused and made["token"] not in refused
        assert "created photos (owner root)" in _cli(server, "bucket", "create", "photos")
        server.s3().put_object(Bucket="photos", Key="a", Body=b"12345")
        usage = json.loads(_cli(server, "bucket", "show", "photos", "--json"))["usage"]
        assert (usage["objects"], usage["bytes"]) == (1, 5)
        assert "BucketNotEmpty" in _cli(server, "bucket", "delete", "photos", code=1)
        out = _cli(server, "user", "add", "alice")  # the same lines as over the internal API
        user_id = next(line.split()[-1] for line in out.splitlines() if line.startswith("user id"))
        users = json.loads(_cli(server, "user", "list", "--json"))
        assert {u["display_name"] for u in users} == {"root", "alice"}
        keys = dict(line.split(":  ") for line in out.splitlines() if ":  " in line)
        alice = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            aws_access_key_id=keys["access key"].strip(),
            aws_secret_access_key=keys["secret key"].strip(),
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )
        alice.create_bucket(Bucket="alices")
        admin_url, token = server.status()["admin_url"], _token(server)
        _post(admin_url, f"/users/{user_id}/disable", token)

        def refused() -> bool:  # once the gateway's credential cache (10 s) has expired
            try:
                alice.list_objects_v2(Bucket="alices")
            except ClientError as exc:
                return exc.response["Error"]["Code"] == "InvalidAccessKeyId"
            return False

        wait_until(refused, 20, interval=0.5, message="a disabled user's key refused")
        _post(admin_url, f"/users/{user_id}/enable", token)
        wait_until(lambda: not refused(), 20, interval=0.5, message="enabled again")
        alice.delete_bucket(Bucket="alices")
        assert f"removed {user_id}" in _cli(server, "user", "remove", user_id)
        assert _cli(server, "health").splitlines()[0] == "healthy"
        nodes = _cli(server, "node", "list").splitlines()
        assert len(nodes) == 1 and "online" in nodes[0] and "disks 6/6" in nodes[0]
        node_id = nodes[0].split()[0]
        assert len(_cli(server, "node", "show", node_id).splitlines()) == 7
        disks = _cli(server, "disk", "list", "--node", node_id, "--state", "online")
        disk_id = disks.splitlines()[0].split()[0]
        assert len(disks.splitlines()) == 6 and disk_id in _cli(server, "disk", "show", disk_id)
        assert _cli(server, "disk", "list", "--state", "offline") == "\n"
        assert "needs its id" in _cli(server, "disk", "drain", code=2)
        # Jobs over the admin API: the standing repair job, paused and resumed (audited), the
        # throttles, and a list whose JSON is the jobs' own structs.
        assert json.loads(_cli(server, "jobs", "pause", "repair", "--json"))["state"] == "paused"
        assert json.loads(_cli(server, "jobs", "resume", "repair", "--json"))["state"] == "running"
        listed = json.loads(_cli(server, "jobs", "list", "--kind", "repair", "--json"))
        assert [j["job_id"] for j in listed["jobs"]] == ["repair"]
        assert "repair:" in _cli(server, "jobs", "throttles")
        assert "NoSuchJob" in _cli(server, "jobs", "show", "no-such-job", code=1)
        actions = [
            (r["action"], r["result"])
            for r in admin_get(server.status()["admin_url"], "/audit", _token(server))[1]["items"]
        ]
        assert actions == [
            ("job.resume", "ok"),
            ("job.pause", "ok"),
            ("user.delete", "ok"),
            ("user.enable", "ok"),
            ("user.disable", "ok"),
            ("user.create", "ok"),
            ("bucket.delete", "BucketNotEmpty"),
            ("bucket.create", "ok"),
            ("token.revoke", "ok"),
            ("token.create", "ok"),
        ]
    finally:
        server.stop()


def _post(url: str, path: str, token: str) -> Any:
    request = urllib.request.Request(url + "/admin/v1" + path, method="POST", data=b"")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def _token(server: Server) -> str:
    return (server.data_dir / "admin.token").read_text().strip()
