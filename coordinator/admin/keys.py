"""The keys resource: the master keyring, what each key wraps, and rotation by re-wrapping.

Layer: coordinator admin package, a resource module (``ROUTES``), over ``Repository.keys``
(``coordinator/db/keys.py``) and the coordinator's keyring (``wormfs.internal.keyring``), which
``add_keyring`` loads at start from the environment only (``WORMFS_MASTER_KEY``, else the key
file ``WORMFS_MASTER_KEY_FILE``: ``wormfs server`` names its data dir's ``master.keys``) and
keeps under ``KEYRING`` (``None`` inside: none configured). Contract:

* ``GET /keys``: the current key id, every key id held (oldest first), ``usage`` (sealed
  versions and uploads whose data key each key wraps, 0 for a key nothing uses; an id no key
  of the keyring has means data this coordinator cannot re-wrap), ``sse_c`` (SSE-C versions
  and uploads: the customer keeps the key, nothing to re-wrap) and ``source`` (``file``,
  ``environment``, or ``none`` without a keyring).
* ``POST /keys/rotate`` ``{"new_key": true}`` (the default): with a key file, appends a fresh
  key to it (``add_key``: it becomes current), waits ``PICKUP`` seconds so that every process
  reading the file (they look at its mtime every ``REFRESH`` seconds) wraps new data keys
  under it, then re-wraps every data key under another key; answers the current key, the key
  added, how many were re-wrapped, how many failed (their key is not in the keyring) and how
  many still remain under other keys afterwards. ``{"new_key": false}`` only re-wraps under
  the current key. With keys from ``WORMFS_MASTER_KEY`` a new key cannot be added here
  (``InvalidInput``: the operator appends it to the variable on every host and restarts, then
  re-wraps); without a keyring, ``NoMasterKey`` (409). One pass lasts at most ``BUDGET``
  seconds (``done`` false: call again with ``new_key`` false; the CLI does). Rotations run
  one at a time. Only data keys are re-wrapped: no stored byte is re-encrypted, old keys stay
  in the keyring (backups and versions written meanwhile may still name them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

import msgspec
from aiohttp import web

from wormfs.coordinator.admin.routes import AdminCall, Route
from wormfs.errors import InvalidInputError, NoMasterKeyError
from wormfs.internal.keyring import MASTER_KEY_ENV, REFRESH, Keyring, add_key

log = logging.getLogger(__name__)

PICKUP = REFRESH + 0.5  # seconds until every process reading the key file wraps under a new key
BUDGET = 20.0  # seconds of re-wrapping per call (the CLI's calls time out after 60)

Source = Literal["file", "environment", "none"]


@dataclass
class KeyringState:
    """The coordinator's master keyring (None: no key configured) and the rotation lock."""

    keyring: Keyring | None = None
    rotating: asyncio.Lock = field(default_factory=asyncio.Lock)


KEYRING = web.AppKey("keyring", KeyringState)


def add_keyring(core: web.Application) -> None:
    """Give the coordinator's app its ``KEYRING``, loaded at start by a cleanup context (from
    the environment only, in a thread: it may read the key file)."""
    state = core[KEYRING] = KeyringState()

    async def ctx(_: web.Application) -> AsyncIterator[None]:
        state.keyring = await asyncio.to_thread(Keyring.load, None)
        if state.keyring is None:
            log.info("no master key configured: master keys cannot be rotated here")
        yield

    core.cleanup_ctx.append(ctx)


class KeyringView(msgspec.Struct, frozen=True):
    current: str | None  # the key new data keys are wrapped under (None: no keyring)
    keys: list[str]  # every key id held, oldest first
    usage: dict[str, int]  # key id -> sealed versions and uploads whose data key it wraps
    sse_c: int  # SSE-C versions and uploads (the customer's key is never stored)
    source: Source


class RotateRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    new_key: bool = True  # add a key to the key file first (false: only re-wrap)


class RotateResult(msgspec.Struct, frozen=True):
    current: str
    added: str | None  # the key this call added (None: none)
    rewrapped: int  # data keys re-wrapped under ``current`` by this call
    failed: int  # data keys met that could not be unwrapped (their key is not held)
    remaining: int  # sealed versions and uploads still under other keys afterwards
    done: bool  # False: the pass stopped at its time budget; call again with new_key false


def _state(call: AdminCall) -> KeyringState:
    return call.core[KEYRING]


def _source(keyring: Keyring | None) -> Source:
    if keyring is None:
        return "none"
    return "file" if keyring.path is not None else "environment"


async def list_master_keys(call: AdminCall) -> KeyringView:
    keyring = _state(call).keyring
    if keyring is not None:
        await asyncio.to_thread(keyring.reload)  # the file may have changed since it was read
    used = await call.repo.keys.usage()
    held = keyring.key_ids if keyring is not None else []
    return KeyringView(
        current=keyring.current if keyring is not None else None,
        keys=held,
        usage={**dict.fromkeys(held, 0), **used.wrapped},
        sse_c=used.sse_c,
        source=_source(keyring),
    )


async def rotate_master_key(call: AdminCall) -> RotateResult:
    req: RotateRequest = call.body
    state = _state(call)
    keyring = state.keyring
    if keyring is None:
        raise NoMasterKeyError(
            "no master key is configured on the coordinator (WORMFS_MASTER_KEY or "
            "WORMFS_MASTER_KEY_FILE): there is nothing to rotate"
        )
    path = keyring.path
    if req.new_key and path is None:
        raise InvalidInputError(
            f"the master keys come from {MASTER_KEY_ENV}, which the coordinator cannot change: "
            f"append the new key (ID:BASE64, e.g. from `openssl rand -base64 32`) to "
            f"{MASTER_KEY_ENV} on every host, restart, then re-wrap with "
            '{"new_key": false} (wormfs admin keys rotate --rewrap-only)'
        )
    async with state.rotating:
        added = None
        if req.new_key and path is not None:
            added = await asyncio.to_thread(add_key, path)
            log.info("master key %s added to %s: it wraps new data keys from now on", added, path)
        await asyncio.to_thread(keyring.reload)
        pinned = keyring.pinned()
        call.target = f"keys/{pinned.current}"
        if added is not None:
            await asyncio.sleep(PICKUP)  # every process now wraps under it: re-wrap the rest
        done = await call.repo.keys.rewrap(pinned, BUDGET)
        used = await call.repo.keys.usage()
    remaining = sum(n for key_id, n in used.wrapped.items() if key_id != pinned.current)
    log.info(
        "master key rotation: %d data keys re-wrapped under %s, %d failed, %d remain on "
        "other keys%s",
        done.rewrapped,
        pinned.current,
        done.failed,
        remaining,
        "" if done.done else " (stopped at the time budget)",
    )
    return RotateResult(
        current=pinned.current,
        added=added,
        rewrapped=done.rewrapped,
        failed=done.failed,
        remaining=remaining,
        done=done.done,
    )


ROUTES = (
    Route(
        "GET",
        "/keys",
        list_master_keys,
        "The master keyring: the current key, every key id, and what each one wraps",
        response=KeyringView,
        tag="keys",
    ),
    Route(
        "POST",
        "/keys/rotate",
        rotate_master_key,
        "Rotate the master key: add a key (unless new_key is false), re-wrap data keys under it",
        scope="admin",
        request=RotateRequest,
        response=RotateResult,
        action="keys.rotate",
        tag="keys",
    ),
)
