"""``wormfs admin keys``: its parser, its lines, and a rotation that takes several passes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from wormfs.cli import admin
from wormfs.cli.admin_keys import run_keys, run_keys_over_api
from wormfs.cli.main import build_parser

VIEW = {
    "current": "bbbbbbbbbbbb",
    "keys": ["aaaaaaaaaaaa", "bbbbbbbbbbbb"],
    "usage": {"aaaaaaaaaaaa": 0, "bbbbbbbbbbbb": 12, "cccccccccccc": 2},
    "sse_c": 3,
    "source": "file",
}


class FakeApi:
    """Answers ``GET /keys`` with ``VIEW`` and each rotate call with the next of ``passes``."""

    def __init__(self, passes: list[dict[str, Any]]) -> None:
        self.passes = passes
        self.sent: list[tuple[str, str, Any]] = []

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        self.sent.append((method, path, body))
        return VIEW if path == "/keys" else self.passes.pop(0)


def _pass(rewrapped: int, done: bool, **more: Any) -> dict[str, Any]:
    answer = {"current": "bbbbbbbbbbbb", "added": None, "rewrapped": rewrapped, "failed": 0}
    return {**answer, "remaining": 0, "done": done, **more}


def _args(*argv: str) -> Any:
    return build_parser().parse_args(["admin", "keys", *argv])


def test_the_topic_parses_and_goes_over_the_admin_api() -> None:
    args = _args("rotate", "--rewrap-only", "--admin-url", "http://h:1", "--json")
    assert (args.keys_command, args.rewrap_only, args.json) == ("rotate", True, True)
    assert not _args("rotate").rewrap_only
    assert admin._over_admin_api(_args("list")) is run_keys_over_api
    with pytest.raises(SystemExit):
        build_parser().parse_args(["admin", "keys"])  # an action is required


def test_list_prints_one_line_per_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert asyncio.run(run_keys(_args("list"), FakeApi([]))) == 0
    assert capsys.readouterr().out.splitlines() == [
        "current key bbbbbbbbbbbb (from the file)",
        "aaaaaaaaaaaa           0 data keys",
        "bbbbbbbbbbbb  current  12 data keys",
        "cccccccccccc           2 data keys  NOT IN THE KEYRING",
        "SSE-C (customer keys, never stored): 3",
    ]


def test_rotate_calls_again_until_a_pass_is_done(capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi([_pass(500, False, added="bbbbbbbbbbbb", remaining=9), _pass(9, True)])
    assert asyncio.run(run_keys(_args("rotate"), api)) == 0
    assert [body for _, _, body in api.sent] == [{"new_key": True}, {"new_key": False}]
    assert capsys.readouterr().out.strip() == (
        "added key bbbbbbbbbbbb; current key bbbbbbbbbbbb; 509 data keys re-wrapped, "
        "0 failed, 0 remain on older keys"
    )


def test_rotate_stops_without_progress_and_fails_on_failures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = FakeApi([_pass(0, False, failed=2, remaining=2)])
    assert asyncio.run(run_keys(_args("rotate", "--rewrap-only", "--json"), api)) == 1
    assert api.sent == [("POST", "/keys/rotate", {"new_key": False})]
    shown = json.loads(capsys.readouterr().out)
    assert (shown["rewrapped"], shown["failed"], shown["remaining"]) == (0, 2, 2)
