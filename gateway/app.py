"""The S3 application (gateway layer): HTTP in, router -> SigV4 -> handler -> HTTP out.

Contract: ``create_s3_app(service, config)`` returns an aiohttp ``Application`` that answers
every request with S3 semantics over ``service`` (an ``ObjectServiceProtocol``). Per request:
a request id (``x-amz-request-id``, ``x-amz-id-2``) and the ``Server`` header on every answer;
the header section bounded; ``route`` names the operation; ``SigV4Verifier`` authenticates it
(SigV4, or SigV2 for older clients) against ``service.credentials``; the body becomes a
``BodyReader`` (plain or aws-chunked); the handler for the name runs (none -> 501
``NotImplemented``); its ``S3Response`` is written, streamed bodies in pieces of at most 1 MiB.
``S3Error`` becomes its XML document, domain errors go through the one table
(``wormfs.gateway.errors.from_domain``), anything else is a 500 ``InternalError`` with the
traceback logged under the request id. HEAD answers carry no body. ``100 Continue`` is sent
only when a handler first reads the body, so requests refused early never upload it (and their
connection is closed, as HTTP demands).

The process: ``create_app(config, secret)`` builds the
``ObjectService`` over real clients (one HTTP client session, with a large connection pool to
storage nodes, in the app's cleanup context) and wraps it in the S3 app; ``run(config,
secret, ready_file)`` serves it until SIGTERM; several worker processes may share one port
with SO_REUSEPORT.

State lives on the app under typed ``AppKey``s; there are no globals.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.http import HttpVersion11

from wormfs.clients.coordinator import CoordinatorClient
from wormfs.clients.storage import StorageClient
from wormfs.config import GatewayConfig
from wormfs.dataplane.reader import Piece
from wormfs.errors import WormError
from wormfs.gateway.body import AwsChunkedBody, BeforeRead, PlainBody
from wormfs.gateway.errors import (
    InternalError,
    InvalidArgument,
    MissingContentLength,
    RequestHeaderSectionTooLarge,
    S3Error,
    S3NotImplemented,
    from_domain,
    render_error,
)
from wormfs.gateway.handlers import HANDLERS, S3Context, S3Response
from wormfs.gateway.object_service import ObjectService
from wormfs.gateway.router import Operation, route
from wormfs.gateway.service import BodyReader, ObjectServiceProtocol
from wormfs.gateway.sigv4 import AuthResult, RequestView, SigV4Verifier
from wormfs.runtime.bootstrap import serve
from wormfs.runtime.tls import server_context

log = logging.getLogger(__name__)

SERVER_NAME = "WormFS"
MAX_HEADER_SECTION = 8 * 1024  # AWS's limit on the request header section
WRITE_PIECE = 1024 * 1024
# aiohttp's own request limits. Its parser answers a breach with a plain-text 400 (no S3 XML),
# so they sit above what AWS accepts: any one header up to twice the 8 KiB section, and enough
# headers for a section of small ones; the app then answers RequestHeaderSectionTooLarge
# itself. Their product (4 MiB) bounds a request's header memory. Request bodies are never
# decompressed (S3 stores bytes as sent).
HANDLER_ARGS = {
    "max_line_size": 16 * 1024,
    "max_field_size": 2 * MAX_HEADER_SECTION,
    "max_headers": 256,
    "auto_decompress": False,
}


@dataclass
class S3State:
    service: ObjectServiceProtocol
    config: GatewayConfig
    verifier: SigV4Verifier


STATE_KEY = web.AppKey("wormfs_s3_state", S3State)


class ResponseAborted(Exception):
    """A streamed answer failed after its headers were sent; the connection is dropped."""


def create_s3_app(service: ObjectServiceProtocol, config: GatewayConfig) -> web.Application:
    app = web.Application(handler_args=HANDLER_ARGS)
    app[STATE_KEY] = S3State(service=service, config=config, verifier=SigV4Verifier(config.region))
    # One catch-all route; Expect: 100-continue is answered by the body readers on first read.
    app.router.add_route("*", r"/{path:[\s\S]*}", handle_s3, expect_handler=_defer_continue)
    return app


async def _defer_continue(request: web.Request) -> None:
    return None


def new_request_id() -> tuple[str, str]:
    raw = os.urandom(40)
    return raw[:8].hex().upper(), base64.b64encode(raw[8:]).decode("ascii")


@dataclass
class _Continue:
    """Tracks ``Expect: 100-continue``: pending until the body is first read."""

    request: web.Request
    pending: bool

    async def send(self) -> None:
        if self.pending:
            self.pending = False
            await self.request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.request.writer.output_size = 0


async def handle_s3(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    request_id, host_id = new_request_id()
    expect = request.headers.get("expect", "").lower() == "100-continue"
    continuation = _Continue(request, expect and request.version == HttpVersion11)
    op: Operation | None = None
    try:
        _check_header_section(request)
        op = route(
            request.method,
            request.raw_path,
            request.headers,
            virtual_host_domain=state.config.virtual_host_domain,
            scheme=request.scheme,
        )
        view = RequestView(
            request.method,
            op.raw_path,
            op.query_items,
            request.headers,
            op.bucket if op.virtual_host else None,
        )
        auth = await state.verifier.authenticate(view, state.service.credentials)
        handler = HANDLERS.get(op.name)
        if handler is None:
            raise S3NotImplemented(f"{op.name} is not implemented")
        body, length = _make_body(request, op, auth, continuation.send)
        ctx = S3Context(
            op=op,
            principal=auth.principal,
            service=state.service,
            body=body,
            body_length=length,
            payload_mode=auth.payload,
            region=state.config.region,
            request_id=request_id,
        )
        result = await handler(ctx)
        return await _write(request, result, request_id, host_id, continuation)
    except ResponseAborted:
        raise
    except S3Error as exc:
        return _error_response(request, exc, op, request_id, host_id, continuation)
    except WormError as exc:
        mapped = from_domain(
            exc,
            bucket=op.bucket if op else None,
            key=op.key if op else None,
            upload_id=op.query.get("uploadId") if op else None,
        )
        if mapped is None:
            log.error("request %s: unmapped domain error", request_id, exc_info=exc)
            mapped = InternalError()
        return _error_response(request, mapped, op, request_id, host_id, continuation)
    except Exception as exc:
        log.error("request %s failed", request_id, exc_info=exc)
        return _error_response(request, InternalError(), op, request_id, host_id, continuation)


def _check_header_section(request: web.Request) -> None:
    size = sum(len(name) + len(value) + 4 for name, value in request.raw_headers)
    if size > MAX_HEADER_SECTION:
        raise RequestHeaderSectionTooLarge(MaxSizeAllowed=MAX_HEADER_SECTION)


def _make_body(
    request: web.Request, op: Operation, auth: AuthResult, before_read: BeforeRead
) -> tuple[BodyReader, int | None]:
    if auth.payload.chunked:
        raw = op.headers.get("x-amz-decoded-content-length")
        if raw is None:
            raise MissingContentLength()
        try:
            decoded = int(raw)
        except ValueError:
            raise InvalidArgument(
                "x-amz-decoded-content-length is not a number",
                ArgumentName="x-amz-decoded-content-length",
                ArgumentValue=raw,
            ) from None
        if decoded < 0:
            raise InvalidArgument(
                "x-amz-decoded-content-length is negative",
                ArgumentName="x-amz-decoded-content-length",
                ArgumentValue=raw,
            )
        trailers = op.headers.get("x-amz-trailer", "").split(",")
        chunked = AwsChunkedBody(
            request.content,
            decoded,
            auth.payload,
            auth.chunk_signing,
            trailers,
            before_read,
        )
        return chunked, decoded
    length = request.content_length
    if length is None and request.body_exists:
        # Transfer-Encoding: chunked without aws-chunked: the size is unknown up front.
        return PlainBody(request.content, None, auth.payload_sha256, before_read), None
    return PlainBody(request.content, length or 0, auth.payload_sha256, before_read), length


def _base_headers(request_id: str, host_id: str) -> dict[str, str]:
    return {"x-amz-request-id": request_id, "x-amz-id-2": host_id, "Server": SERVER_NAME}


async def _write(
    request: web.Request,
    result: S3Response,
    request_id: str,
    host_id: str,
    continuation: _Continue,
) -> web.StreamResponse:
    headers = {**_base_headers(request_id, host_id), **result.headers}
    response: web.StreamResponse
    if result.stream is None:
        if request.method == "HEAD":
            response = web.Response(status=result.status, headers=headers)
            if result.content_length is not None:
                response.headers["Content-Length"] = str(result.content_length)
        else:
            response = web.Response(status=result.status, headers=headers, body=result.body)
        _close_if_body_unread(response, continuation)
        return response
    stream = result.stream
    try:
        # Fetch the first piece before committing to a status, so that a read that fails at
        # once (e.g. too few fragments) is still a proper error answer.
        first = await anext(stream, b"")
        if result.content_length == len(first) <= WRITE_PIECE and request.method != "HEAD":
            # The whole body in hand (a small object): one plain response, whose headers and
            # body leave in one send, instead of a stream's three writes.
            small = web.Response(status=result.status, headers=headers, body=first)
            _close_if_body_unread(small, continuation)
            return small
        response = web.StreamResponse(status=result.status, headers=headers)
        if result.content_length is not None:
            response.content_length = result.content_length
        _close_if_body_unread(response, continuation)
        await response.prepare(request)
        try:
            piece: Piece | None = first
            while piece is not None:
                for offset in range(0, len(piece), WRITE_PIECE):
                    # write() waits for the transport to drain: memory stays bounded.
                    await response.write(piece[offset : offset + WRITE_PIECE])
                piece = await anext(stream, None)
            await response.write_eof()
        except ConnectionError as exc:
            # The client went away; nothing to answer, nothing worth a traceback.
            log.info("request %s: client disconnected while streaming: %s", request_id, exc)
            raise ResponseAborted(f"request {request_id}: client disconnected") from exc
        except Exception as exc:
            log.error("request %s: answer aborted while streaming", request_id, exc_info=exc)
            raise ResponseAborted(f"request {request_id}: answer aborted") from exc
    finally:
        # Release the reader's resources (node connections) whatever happened.
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
    return response


def _close_if_body_unread(response: web.StreamResponse, continuation: _Continue) -> None:
    # The client waits for 100 Continue before sending the body; having answered without it,
    # the unsent body would otherwise be read as the next request.
    if continuation.pending:
        response.force_close()


def _error_response(
    request: web.Request,
    error: S3Error,
    op: Operation | None,
    request_id: str,
    host_id: str,
    continuation: _Continue,
) -> web.Response:
    headers = {**_base_headers(request_id, host_id), **error.headers}
    if request.method == "HEAD" or error.status == 304:
        response = web.Response(status=error.status, headers=headers)
    else:
        resource = op.resource if op is not None else request.path
        body = render_error(error, resource, request_id, host_id)
        headers["Content-Type"] = "application/xml"
        response = web.Response(status=error.status, headers=headers, body=body)
    _close_if_body_unread(response, continuation)
    return response


# ---- the process: the S3 app over real clients ------------------------------------------------
SESSION_KEY = web.AppKey("wormfs_session", aiohttp.ClientSession)


async def create_app(config: GatewayConfig, secret: bytes) -> web.Application:
    # Node streams are long-lived and many at once (k+m per request), so no per-host cap.
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30),
        auto_decompress=False,
    )
    coordinator = CoordinatorClient(
        session,
        config.coordinator_url,  # one URL, or several: requests find the leader
        secret,
        zookeeper_hosts=config.zookeeper_hosts,
        zookeeper_path=config.zookeeper_path,
    )
    service = ObjectService(
        coordinator, StorageClient(session, secret), inline_max=config.inline_max
    )
    app = create_s3_app(service, config)
    app[SESSION_KEY] = session

    async def close_session(app: web.Application) -> AsyncIterator[None]:
        yield
        await coordinator.close()  # stops its ZooKeeper watch, if any
        await app[SESSION_KEY].close()

    app.cleanup_ctx.append(close_session)
    return app


def run(config: GatewayConfig, secret: bytes, ready_file: Path | None) -> None:
    """Serve S3 until SIGTERM (after ``wormfs.runtime.startup``'s checks, which also tune
    malloc: stripes and fragments are allocated and freed per request, and ISA-L encoding
    runs ten times slower on freshly faulted pages)."""

    async def factory() -> web.Application:
        return await create_app(config, secret)

    serve(
        factory,
        config.listen.host,
        config.listen.port,
        ready_file,
        reuse_port=config.workers > 1,
        # HTTPS when configured (validated at start-up); SDKs use aws-chunked trailers then.
        ssl_context=server_context(config.tls_cert, config.tls_key) if config.tls_cert else None,
    )
