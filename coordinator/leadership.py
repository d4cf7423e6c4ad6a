"""What leading means for a coordinator: the leader-only jobs, taking and leaving office, and
the gate that keeps a follower from serving.

Layer: coordinator, beside the app wiring (``app``) and below the election (``election``).
Contract:

* ``LeaderJobs`` runs the background jobs that only the leader may run — node liveness, the
  GC loop, and services with ``start()``/``close()`` (repair and scrub) — and can be started
  and stopped any number of times (a coordinator may lead, lose its session, and lead again).
* ``Office`` is what the election drives:
  - ``take_office(identity)`` takes the next leader epoch in the database (fencing: from then
    on every older epoch's write fails), opens the database's write gate, makes sure the root
    user exists and starts the jobs; it returns the epoch;
  - ``pause(reason)`` / ``resume()`` close and reopen the write gate while the ZooKeeper
    connection is SUSPENDED (the session may still be alive; we cannot know whether another
    coordinator was elected, so we stop writing until we hear from ZooKeeper again);
  - ``leave_office(reason)`` closes the gate, forgets the epoch and stops the jobs (session
    LOST, or shutting down).
* ``leader_gate`` (aiohttp middleware, after authentication): while this coordinator is not
  the serving leader, every ``/v1`` request except ``/v1/health`` is answered with
  ``NotLeaderError`` (503) naming the leader's address (``X-Wormfs-Leader`` and the message)
  when it is known. Followers share the database, but answering from them would let a client
  write through a coordinator that cannot fence; redirecting keeps one writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol

from aiohttp import web

from wormfs.coordinator.db.repo import Repository
from wormfs.errors import NotLeaderError

log = logging.getLogger(__name__)

LoopFactory = Callable[[], Coroutine[Any, Any, None]]
UNGATED_PATHS = frozenset({"/v1/health", "/healthz"})


class Service(Protocol):
    """A group of background loops with its own start and stop (e.g. repair and scrub)."""

    def start(self) -> None: ...

    async def close(self) -> None: ...


class LeaderJobs:
    def __init__(self, loops: dict[str, LoopFactory], services: Sequence[Service] = ()) -> None:
        self._loops = loops
        self._services = list(services)
        self._tasks: list[asyncio.Task[None]] = []
        self.running = False

    def start(self) -> None:
        if self.running:
            return
        self.running = True
        self._tasks = [asyncio.create_task(make(), name=name) for name, make in self._loops.items()]
        for service in self._services:
            service.start()
        log.info("leader jobs started: %s", ", ".join(self._loops) or "none")

    async def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for service in self._services:
            await service.close()
        log.info("leader jobs stopped")


class Office:
    """The duties of the elected coordinator (see the module docstring)."""

    def __init__(
        self,
        repo: Repository,
        jobs: LeaderJobs,
        root_access_key: str,
        root_secret_key: str,
        duties: Sequence[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        self._repo = repo
        self._jobs = jobs
        self._root = (root_access_key, root_secret_key)
        self._duties = duties  # more writes of a new leader (e.g. the configured admin token)

    async def take_office(self, identity: str) -> int:
        db = self._repo.db
        epoch = await db.become_leader(identity)
        db.accept_writes()
        await self._repo.identity.ensure_root(*self._root)
        await self._repo.profiles.seed()
        for duty in self._duties:
            await duty()
        self._jobs.start()
        return epoch

    def pause(self, reason: str) -> None:
        self._repo.db.refuse_writes(reason)

    def resume(self) -> None:
        if self._repo.db.epoch is not None:
            self._repo.db.accept_writes()

    async def leave_office(self, reason: str) -> None:
        self._repo.db.step_down(reason)
        await self._jobs.stop()


class LeaderState(Protocol):
    """What the gate needs to know (``coordinator.election.Election`` provides it)."""

    @property
    def serving(self) -> bool: ...

    @property
    def leader_address(self) -> str: ...


def leader_gate(state: Callable[[web.Request], LeaderState]) -> Any:
    """Middleware answering ``NotLeaderError`` unless ``state(request)`` is the serving leader."""

    @web.middleware
    async def gate(
        request: web.Request,
        handler: Callable[[web.Request], Coroutine[Any, Any, web.StreamResponse]],
    ) -> web.StreamResponse:
        if request.path in UNGATED_PATHS or not request.path.startswith("/v1/"):
            return await handler(request)
        election = state(request)
        if not election.serving:
            leader = election.leader_address
            where = f"; the leader is {leader}" if leader else "; no leader is known yet"
            raise NotLeaderError(f"this coordinator is not the leader{where}", leader=leader)
        return await handler(request)

    return gate
