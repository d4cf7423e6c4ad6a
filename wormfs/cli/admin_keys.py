"""``wormfs admin keys``: the master keys that wrap the data keys of sealed objects, and rotation.

Layer: cli. Over the admin REST API only (``/admin/v1/keys``, ``coordinator/admin/keys.py``:
audited, an ``admin`` token to rotate), found as every admin API command finds it
(``--admin-url``, ``WORMFS_ADMIN_URL`` or the data dir's; ``wormfs.cli.admin_api``).
``wormfs.cli.admin`` adds the topic to its parser and hands it here. ``--json`` prints the
API's answer instead (for ``rotate``: the sum of its calls).

    wormfs admin keys list                     the current key, every key and what it wraps
    wormfs admin keys rotate [--rewrap-only]   add a key, re-wrap every data key under it

A rotation pass answers ``done`` false when it stopped at the coordinator's time budget; the
command then calls again (re-wrapping only) until a pass is done or re-wraps nothing more.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Protocol

from wormfs.cli.admin_api import add_connection_arguments, over_admin_api

TOPIC = "keys"


class KeysApi(Protocol):
    """What the commands need of ``AdminApi``."""

    async def call(self, method: str, path: str, body: Any = None) -> Any: ...


def add_keys_arguments(sub: Any) -> None:
    """Add the ``keys`` topic to ``wormfs admin``'s subparsers."""
    keys = sub.add_parser(
        TOPIC, help="master keys of SSE-S3/SSE-KMS objects: list, rotate (re-wrap data keys)"
    )
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    actions.add_parser("list", help="the current key, every key id and the data keys each wraps")
    rotate = actions.add_parser(
        "rotate", help="add a master key and re-wrap every data key under it"
    )
    rotate.add_argument(
        "--rewrap-only",
        action="store_true",
        help="add no key: re-wrap under the current one (keys from WORMFS_MASTER_KEY, or a "
        "rotation that left data keys on older keys)",
    )
    for action in actions.choices.values():
        add_connection_arguments(action)  # --admin-url, --token, --json


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


def list_lines(view: dict[str, Any]) -> list[str]:
    current = view["current"]
    if current is None:
        head = "no master key is configured on the coordinator"
    else:
        head = f"current key {current} (from the {view['source']})"
    lines = [head]
    for key_id, count in view["usage"].items():
        mark = "current" if key_id == current else "       "
        held = "" if key_id in view["keys"] else "  NOT IN THE KEYRING"
        lines.append(f"{key_id}  {mark}  {count} data keys{held}")
    if view["sse_c"]:
        lines.append(f"SSE-C (customer keys, never stored): {view['sse_c']}")
    return lines


def rotate_line(result: dict[str, Any]) -> str:
    added = f"added key {result['added']}; " if result.get("added") else ""
    return (
        f"{added}current key {result['current']}; {result['rewrapped']} data keys re-wrapped, "
        f"{result['failed']} failed, {result['remaining']} remain on older keys"
    )


async def rotate(api: KeysApi, new_key: bool) -> dict[str, Any]:
    """Rotate (or only re-wrap), calling again while a pass stops at its time budget and
    still makes progress; the answers summed (``failed`` and ``remaining``: the last's)."""
    result: dict[str, Any] = await api.call("POST", "/keys/rotate", {"new_key": new_key})
    total = dict(result)
    while not result["done"] and result["rewrapped"]:
        result = await api.call("POST", "/keys/rotate", {"new_key": False})
        total["rewrapped"] += result["rewrapped"]
        for name in ("current", "failed", "remaining", "done"):
            total[name] = result[name]
    return total


async def run_keys(args: argparse.Namespace, api: KeysApi) -> int:
    if args.keys_command == "list":
        view = await api.call("GET", "/keys")
        if args.json:
            _print_json(view)
        else:
            print("\n".join(list_lines(view)))
        return 0
    result = await rotate(api, new_key=not args.rewrap_only)
    if args.json:
        _print_json(result)
    else:
        print(rotate_line(result))
    return 0 if not result["failed"] else 1


async def run_keys_over_api(args: argparse.Namespace) -> int:
    """``wormfs admin keys ...``; an error answer prints ``code: message (request id)`` and
    exits 1."""
    return await over_admin_api(args, lambda api: run_keys(args, api))
