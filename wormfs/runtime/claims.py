"""One cluster per data dir and per S3 address: what ``wormfs server`` claims before any child.

Layer: runtime (used by ``wormfs.runtime.supervisor``). Contract: each function either
returns a claim the server holds for its whole life, or raises ``ServerRefused`` with a
sentence for the user; nothing has been started then.

* ``lock_data_dir(dir)``: an exclusive ``flock`` on ``dir/server.lock``, which then holds
  the server's PID. The descriptor is handed down to the children, so the lock stays held
  while any of them still runs (a server killed with SIGKILL leaves its children to stop on
  their own: see ``supervisor``), and the kernel drops it when the last of them exits.
* ``claim_address(host, port)``: refuses an address another ``wormfs server`` has claimed
  (an abstract Unix socket named after it, unique per network namespace, gone with the
  process that bound it, so two servers starting at once cannot both pass), then probes the
  TCP port: a bind without SO_REUSEPORT fails while anything listens there, SO_REUSEPORT
  gateway workers included, which would otherwise let a second cluster silently share the
  port. SO_REUSEADDR is set on the probe so that connections of an earlier run still in
  TIME_WAIT are no conflict. The probe socket is closed at once; only the gateway workers
  of this server then bind the port (with SO_REUSEPORT among themselves).
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

LOCK_NAME = "server.lock"


class ServerRefused(Exception):
    """The data dir or the address is already in use: the server must not start."""


def lock_data_dir(data_dir: Path) -> int:
    """Lock ``data_dir`` for this server; the open descriptor (keep it, pass it to children)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        by = f" (server pid {holder})" if holder.isdigit() else ""
        raise ServerRefused(
            f"data dir {data_dir} is in use by another wormfs server{by}; "
            "stop it first, or give this one another --data-dir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def claim_address(host: str, port: int) -> socket.socket:
    """Claim ``host:port`` for this server's gateway workers; the claim (keep it open)."""
    claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        claim.bind(f"\0wormfs-server {host}:{port}")
    except OSError:
        claim.close()
        raise ServerRefused(
            f"{host}:{port} is already served by another wormfs server; stop it first, or "
            "give this one another --s3-address (or WORMFS_S3_ADDRESS)"
        ) from None
    try:
        probe_port(host, port)
    except ServerRefused:
        claim.close()
        raise
    return claim


def probe_port(host: str, port: int, option: str = "--s3-address (or WORMFS_S3_ADDRESS)") -> None:
    """Raise ``ServerRefused`` unless ``host:port`` can be bound (nothing listens there);
    the refusal names ``option`` as the way to pick another address."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ServerRefused(f"cannot listen on {host}:{port}: {exc}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ServerRefused(
                f"{host}:{port} is already in use ({exc.strerror}): another program or "
                f"cluster listens there; stop it, or give this server another {option}"
            ) from None
