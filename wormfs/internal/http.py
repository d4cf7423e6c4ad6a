"""Both ends of the internal ``/v1`` HTTP APIs: server middleware and a typed JSON client.

Server side: ``internal_middleware`` authenticates every request with the cluster secret and
maps domain errors to ``ErrorBody`` responses with the error's status (the one mapping table of
this boundary is ``WormError.http_status``; a ``NotLeaderError`` also names the leader in the
``X-Wormfs-Leader`` header); anything else becomes a 500 with a request id and a
logged traceback. The request id an internal request carries (``X-Wormfs-Request-Id``, see
``wormfs.internal.requestid``) is bound while it is handled, so the log lines of that work
carry it; each request is logged at DEBUG with its status. ``GET /metrics`` (and the
coordinator's ``/metrics/cluster``) are public like ``/healthz``: Prometheus scrapes them
without the cluster secret, and they reveal counts, never keys or names of objects.

Client side: ``InternalClient`` signs requests, decodes typed bodies, and raises the domain
error an error body names, so errors cross process boundaries unchanged.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import aiohttp
import msgspec
from aiohttp import web
from aiohttp.typedefs import Middleware

from wormfs.errors import InvalidInputError, NotLeaderError, UnavailableError, WormError
from wormfs.ids import new_request_id
from wormfs.internal import requestid
from wormfs.internal.auth import AUTH_HEADER, Verifier, sign
from wormfs.wire.common import (
    JSON_TYPE,
    MAX_JSON_BODY,
    decode,
    encode,
    error_body,
    raise_error_body,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Paths served without authentication (load balancers, Prometheus and humans poke at them).
PUBLIC_PATHS = frozenset({"/healthz"})
# Served without authentication to GET (and HEAD) only: the Prometheus expositions.
PUBLIC_READ_PATHS = frozenset({"/metrics", "/metrics/cluster"})
# A coordinator that is not the leader names the leader's base URL here (with NotLeaderError).
LEADER_HEADER = "X-Wormfs-Leader"


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=encode(value), status=status, content_type=JSON_TYPE)


def error_response(error: WormError) -> web.Response:
    response = web.Response(
        body=error_body(error), status=error.http_status, content_type=JSON_TYPE
    )
    if isinstance(error, NotLeaderError) and error.leader:
        response.headers[LEADER_HEADER] = error.leader
    return response


async def read_json(request: web.Request, kind: type[T]) -> T:
    """Decode a bounded JSON body into ``kind``; malformed bodies are ``InvalidInputError``."""
    if request.content_length is not None and request.content_length > MAX_JSON_BODY:
        raise InvalidInputError("JSON body too large")
    data = await request.content.read(MAX_JSON_BODY + 1)
    if len(data) > MAX_JSON_BODY:
        raise InvalidInputError("JSON body too large")
    try:
        return decode(data, kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidInputError(f"bad {kind.__name__} body: {exc}") from None


def internal_middleware(verifier: Verifier) -> Middleware:
    debug_enabled = functools.partial(log.isEnabledFor, logging.DEBUG)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        incoming = request.headers.get(requestid.REQUEST_ID_HEADER)
        if incoming is None:
            # Background work and clients outside an S3 request send no id: nothing to bind
            # (the connection task that serves this request has none bound: `bound` resets).
            return await _logged(request, handler)
        with requestid.bound(incoming):  # the DEBUG line too carries the id
            return await _logged(request, handler)

    async def _logged(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await _handle(request, handler)
        if debug_enabled():
            log.debug("%s %s -> %d", request.method, request.path, response.status)
        return response

    async def _handle(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            public = request.path in PUBLIC_PATHS or (
                request.path in PUBLIC_READ_PATHS and request.method in ("GET", "HEAD")
            )
            if not public:
                verifier.verify(
                    request.headers.get(AUTH_HEADER),
                    request.method,
                    request.path,
                    request.rel_url.query.items(),
                )
            return await handler(request)
        except WormError as exc:
            return error_response(exc)
        except web.HTTPException:
            raise
        except Exception:
            request_id = requestid.current() or new_request_id()
            log.exception(
                "internal error handling %s %s [%s]", request.method, request.path, request_id
            )
            return error_response(WormError(f"internal error, request id {request_id}"))

    return middleware


class InternalClient:
    """A signed JSON client for one internal service at ``base_url``.

    Connection errors become ``UnavailableError``; error bodies become their domain error.
    """

    def __init__(self, session: aiohttp.ClientSession, base_url: str, secret: bytes) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self._secret = secret

    def auth_headers(
        self, method: str, path: str, query: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        return sign(self._secret, method, path, (query or {}).items())

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        ok: Iterable[int] = (200, 201, 204),
        timeout: float = 30.0,
    ) -> bytes:
        """Send one signed request; return the response body or raise its domain error."""
        headers = self.auth_headers(method, path, query)
        data = None
        if body is not None:
            data = encode(body)
            headers["Content-Type"] = JSON_TYPE
        try:
            async with self.session.request(
                method,
                self.base_url + path,
                params=dict(query or {}),
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                payload = await resp.read()
                if resp.status not in set(ok):
                    error = raise_error_body(payload, resp.status)
                    if isinstance(error, NotLeaderError):
                        error.leader = resp.headers.get(LEADER_HEADER, "")
                    raise error
                return payload
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UnavailableError(f"{method} {self.base_url}{path}: {exc!r}") from exc

    async def call(self, method: str, path: str, kind: type[T], **kwargs: Any) -> T:
        """A request whose answer is a ``kind`` JSON body."""
        payload = await self.request(method, path, **kwargs)
        try:
            return decode(payload, kind)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise WormError(f"bad {kind.__name__} from {self.base_url}{path}: {exc}") from exc
