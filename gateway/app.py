"""The S3 application (gateway layer): HTTP in, router -> SigV4 -> handler -> HTTP out.

Contract: ``create_s3_app(service, config)`` returns an aiohttp ``Application`` that answers
every request with S3 semantics over ``service`` (an ``ObjectServiceProtocol``). Per request:
a request id (``x-amz-request-id``, ``x-amz-id-2``) and the ``Server`` header on every answer;
the header section bounded; ``route`` names the operation; ``SigV4Verifier`` authenticates it
(SigV4, or SigV2 for older clients) against ``service.credentials``; ``Authorizer`` decides
whether the caller (or an anonymous request) may do it and as whom the handler acts
(``wormfs.gateway.access``: bucket owner, bucket policy, public access block); the body becomes a
``BodyReader`` (plain or aws-chunked); the handler for the name runs (none -> 501
``NotImplemented``); its ``S3Response`` is written, streamed bodies in pieces of at most 1 MiB.
CORS (``wormfs.gateway.cors``): an OPTIONS preflight is answered from the bucket's rules before
any authentication (browsers do not sign it); any other request with an ``Origin`` gets the
``Access-Control-*`` headers of the rule that allows it, on its answer or its error. A POST
Object (a browser form upload, ``wormfs.gateway.post_object``) is authenticated by its form.
``S3Error`` becomes its XML document, domain errors go through the one table
(``wormfs.gateway.errors.from_domain``), anything else is a 500 ``InternalError`` with the
traceback logged under the request id. HEAD answers carry no body. Client connections are
bounded by ``ClientLimits`` (``wormfs.gateway.limits``: idle/slowloris and stalled-body
timeouts; requests the HTTP layer cannot parse are logged at INFO). ``100 Continue`` is sent
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

import asyncio
import base64
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.http import HttpVersion11
from aiohttp.typedefs import Handler

from wormfs.clients.coordinator import CoordinatorClient
from wormfs.clients.storage import StorageClient
from wormfs.config import GatewayConfig
from wormfs.dataplane.reader import Piece
from wormfs.errors import NoSuchBucketError, WormError
from wormfs.gateway.access import Authorizer, BucketFactsCache, RequestFacts
from wormfs.gateway.access_log import AccessLog, AccessRecord
from wormfs.gateway.body import AwsChunkedBody, BeforeRead, PlainBody
from wormfs.gateway.cors import preflight, response_headers
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
from wormfs.gateway.limits import (
    ClientErrorLog,
    ClientLimits,
    RequestTimeout,
    TimedSource,
    limits_from_environment,
)
from wormfs.gateway.metrics import UNKNOWN_OPERATION, GatewayMetrics
from wormfs.gateway.object_service import ObjectService
from wormfs.gateway.post_object import post_object
from wormfs.gateway.router import Operation, route
from wormfs.gateway.service import BodyReader, ObjectServiceProtocol
from wormfs.gateway.sigv4 import AuthResult, RequestView, SigV4Verifier
from wormfs.internal import requestid
from wormfs.internal.keyring import Keyring
from wormfs.runtime.bootstrap import serve
from wormfs.runtime.metrics import metrics_response
from wormfs.runtime.tls import server_context
from wormfs.wire.cors import CorsConfig

log = logging.getLogger(__name__)

SERVER_NAME = "WormFS"
MAX_HEADER_SECTION = 8 * 1024  # AWS's limit on the request header section
WRITE_PIECE = 1024 * 1024
# The status recorded (metrics, access log) for a request whose client left before any
# answer: nginx's convention, as no HTTP status was sent.
CLIENT_CLOSED = 499
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
    authorizer: Authorizer
    metrics: GatewayMetrics | None = None  # None: no /metrics (in-process test apps)
    access_log: AccessLog | None = None
    limits: ClientLimits = field(default_factory=ClientLimits)


STATE_KEY = web.AppKey("wormfs_s3_state", S3State)


class ResponseAborted(Exception):
    """A streamed answer failed after its headers were sent; the connection is dropped."""


def create_s3_app(
    service: ObjectServiceProtocol,
    config: GatewayConfig,
    metrics: GatewayMetrics | None = None,
    access_log: AccessLog | None = None,
    limits: ClientLimits | None = None,
) -> web.Application:
    limits = limits or ClientLimits()
    handler_args = {
        **HANDLER_ARGS,
        # Closes idle and slowloris connections alike (see wormfs.gateway.limits).
        "keepalive_timeout": limits.idle_timeout,
        "logger": ClientErrorLog(logging.getLogger("wormfs.gateway.http"), {}),
    }
    app = web.Application(handler_args=handler_args, middlewares=[_unrouted])
    app[STATE_KEY] = S3State(
        service=service,
        config=config,
        verifier=SigV4Verifier(config.region),
        authorizer=Authorizer(service, BucketFactsCache(service.bucket_access)),
        metrics=metrics,
        access_log=access_log,
        limits=limits,
    )
    # One catch-all route; Expect: 100-continue is answered by the body readers on first read.
    app.router.add_route("*", r"/{path:[\s\S]*}", handle_s3, expect_handler=_defer_continue)
    return app


async def _defer_continue(request: web.Request) -> None:
    return None


@web.middleware
async def _unrouted(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Requests the catch-all route cannot match (``CONNECT`` and other targets that are not
    a path) are still S3's to answer, in XML, rather than aiohttp's plain-text 404."""
    if request.match_info.http_exception is not None:
        return await handle_s3(request)
    return await handler(request)


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
    if state.metrics is not None and is_scrape(request):
        return metrics_response(await state.metrics.exposition())
    request_id, host_id = new_request_id()
    record = _new_record(request, request_id, host_id)
    started = time.perf_counter()
    metrics = state.metrics
    if metrics is not None:
        metrics.inflight.inc()
    try:
        with requestid.bound(request_id):
            return await _serve(request, state, record)
    finally:
        seconds = time.perf_counter() - started
        # From the same origin and clock as the turnaround time (``_write``), so that the
        # total is never the smaller of the two.
        record.total_ms = int((time.time() - record.start) * 1000)
        if record.status == 0:
            record.status = CLIENT_CLOSED  # the client went away before any answer
        if record.turnaround_ms is None:
            record.turnaround_ms = record.total_ms  # answered whole, in one send
        if metrics is not None:
            metrics.inflight.dec()
            metrics.observe(
                record.operation,
                record.status,
                record.error_code,
                seconds,
                request.content.total_bytes,
                record.bytes_sent,
            )
        if state.access_log is not None:
            state.access_log.write(record)
        log.debug(
            "%s %s -> %d %s (%d ms)",
            request.method,
            request.path,
            record.status,
            record.operation or UNKNOWN_OPERATION,
            record.total_ms,
            extra={"request_id": request_id},
        )


def is_scrape(request: web.Request) -> bool:
    """An unsigned ``GET /metrics``: Prometheus, not S3. So a bucket named "metrics" cannot be
    listed anonymously even where its policy would allow it; a signed request is S3 as always."""
    return (
        request.method in ("GET", "HEAD")
        and request.path == "/metrics"
        and "authorization" not in request.headers
        and "X-Amz-Signature" not in request.query
        and "Signature" not in request.query
    )


def _new_record(request: web.Request, request_id: str, host_id: str) -> AccessRecord:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    cipher = ssl_object.cipher() if ssl_object is not None else None
    record = AccessRecord(
        start=time.time(),
        remote_ip=str(peer[0]) if isinstance(peer, tuple) and peer else "",
        request_id=request_id,
        host_id=host_id,
        method=request.method,
        request_uri=request.raw_path,
        http_version=f"HTTP/{request.version.major}.{request.version.minor}",
        host=request.headers.get("host", ""),
        referer=request.headers.get("referer", ""),
        user_agent=request.headers.get("user-agent", ""),
        cipher_suite=cipher[0] if cipher else "",
        tls_version=ssl_object.version() or "" if ssl_object is not None else "",
    )
    authorization = request.headers.get("authorization", "")
    if authorization:
        record.auth_type = "AuthHeader"
        record.signature_version = "SigV4" if authorization.startswith("AWS4-") else "SigV2"
    elif "X-Amz-Signature" in request.query:
        record.auth_type, record.signature_version = "QueryString", "SigV4"
    elif "Signature" in request.query:
        record.auth_type, record.signature_version = "QueryString", "SigV2"
    return record


async def _serve(request: web.Request, state: S3State, record: AccessRecord) -> web.StreamResponse:
    request_id = record.request_id
    expect = request.headers.get("expect", "").lower() == "100-continue"
    continuation = _Continue(request, expect and request.version == HttpVersion11)
    op: Operation | None = None
    cors: dict[str, str] = {}  # Access-Control-* for a browser's request (any answer)
    try:
        _check_header_section(request)
        op = route(
            request.method,
            request.raw_path,
            request.headers,
            virtual_host_domain=state.config.virtual_host_domain,
            scheme=request.scheme,
        )
        record.operation, record.bucket, record.key = op.name, op.bucket, op.key
        if op.name == "PreflightRequest":  # unsigned, as browsers send it
            config = await _bucket_cors(state, op.bucket)
            answer = S3Response(headers=preflight(config, request.headers))
            return await _write(request, answer, record, continuation)
        if op.bucket is not None and "Origin" in request.headers:
            config = await _bucket_cors(state, op.bucket, missing_ok=True)
            cors = response_headers(config, request.method, request.headers)
        if op.name == "PostObject":  # a browser form: it carries its own signature
            answer = await post_object(
                request, op, state.verifier, state.service, state.authorizer, record.remote_ip
            )
            answer.headers.update(cors)
            return await _write(request, answer, record, continuation)
        view = RequestView(
            request.method,
            op.raw_path,
            op.query_items,
            request.headers,
            op.bucket if op.virtual_host else None,
        )
        auth = await state.verifier.authenticate(view, state.service.credentials)
        caller = auth.principal
        record.requester = caller.user_id if caller is not None else ""
        handler = HANDLERS.get(op.name)
        if handler is None:
            raise S3NotImplemented(f"{op.name} is not implemented")
        how = RequestFacts(
            source_ip=record.remote_ip,
            secure=request.scheme == "https",
            auth_type=record.auth_type,
            signature_version=record.signature_version,
        )
        access = await state.authorizer.authorize(op, caller, how)
        assert access.principal is not None, "authorize names whom the handler acts as"
        source = TimedSource(request.content, state.limits.body_timeout)
        body, length = _make_body(request, source, op, auth, continuation.send)
        if request.method in ("PUT", "POST"):
            record.object_size = length
        ctx = S3Context(
            op=op,
            principal=access.principal,
            service=state.service,
            body=body,
            body_length=length,
            payload_mode=auth.payload,
            region=state.config.region,
            request_id=request_id,
            auth=access,
        )
        result = await handler(ctx)
        result.headers.update(cors)
        return await _write(request, result, record, continuation)
    except ResponseAborted:
        raise
    except S3Error as exc:
        exc.headers.update(cors)
        return _error_response(request, exc, op, record, continuation)
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
        mapped.headers.update(cors)
        return _error_response(request, mapped, op, record, continuation)
    except Exception as exc:
        log.error("request %s failed", request_id, exc_info=exc)
        return _error_response(request, InternalError(), op, record, continuation)


# Operations the app answers itself, before any handler and any header authentication.
ANSWERED_BY_APP = frozenset({"PreflightRequest", "PostObject"})


async def _bucket_cors(
    state: S3State, bucket: str | None, missing_ok: bool = False
) -> CorsConfig | None:
    """The bucket's CORS rules from the cached bucket facts. A preflight of a missing bucket
    is ``NoSuchBucket``; for another request (``missing_ok``) it only means no CORS headers,
    the request's own answer says the rest."""
    if bucket is None:
        return None
    try:
        return (await state.authorizer.cache.get(bucket)).access.cors
    except NoSuchBucketError:
        if missing_ok:
            return None
        raise


def _check_header_section(request: web.Request) -> None:
    size = sum(len(name) + len(value) + 4 for name, value in request.raw_headers)
    if size > MAX_HEADER_SECTION:
        raise RequestHeaderSectionTooLarge(MaxSizeAllowed=MAX_HEADER_SECTION)


def _make_body(
    request: web.Request,
    source: TimedSource,
    op: Operation,
    auth: AuthResult,
    before_read: BeforeRead,
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
            source,
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
        return PlainBody(source, None, auth.payload_sha256, before_read), None
    return PlainBody(source, length or 0, auth.payload_sha256, before_read), length


def _base_headers(request_id: str, host_id: str) -> dict[str, str]:
    return {"x-amz-request-id": request_id, "x-amz-id-2": host_id, "Server": SERVER_NAME}


def _object_size(result: S3Response) -> int | None:
    """The whole object's size for the access log (a range answer names it after the '/')."""
    content_range = result.headers.get("Content-Range", "")
    total = content_range.rpartition("/")[2]
    if total.isdigit():
        return int(total)
    if result.content_length is not None:
        return result.content_length
    return None


async def _write(
    request: web.Request,
    result: S3Response,
    record: AccessRecord,
    continuation: _Continue,
) -> web.StreamResponse:
    request_id = record.request_id
    headers = {**_base_headers(request_id, record.host_id), **result.headers}
    record.status = result.status
    record.version_id = result.headers.get("x-amz-version-id", "")
    if request.method in ("GET", "HEAD"):
        record.object_size = _object_size(result)
    response: web.StreamResponse
    if result.stream is None:
        if request.method == "HEAD":
            response = web.Response(status=result.status, headers=headers)
            if result.content_length is not None:
                response.headers["Content-Length"] = str(result.content_length)
        else:
            response = web.Response(status=result.status, headers=headers, body=result.body)
            record.bytes_sent = len(result.body)
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
            record.bytes_sent = len(first)
            _close_if_body_unread(small, continuation)
            return small
        response = web.StreamResponse(status=result.status, headers=headers)
        if result.content_length is not None:
            response.content_length = result.content_length
        _close_if_body_unread(response, continuation)
        await response.prepare(request)
        record.turnaround_ms = int((time.time() - record.start) * 1000)
        try:
            piece: Piece | None = first
            while piece is not None:
                for offset in range(0, len(piece), WRITE_PIECE):
                    # write() waits for the transport to drain: memory stays bounded.
                    await response.write(piece[offset : offset + WRITE_PIECE])
                record.bytes_sent += len(piece)
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
    record: AccessRecord,
    continuation: _Continue,
) -> web.Response:
    request_id, host_id = record.request_id, record.host_id
    headers = {**_base_headers(request_id, host_id), **error.headers}
    record.status = error.status
    # A 304 is an answer, not an error (AWS logs no error code for it either).
    record.error_code = error.code if error.status >= 400 else ""
    if request.method == "HEAD" or error.status == 304:
        response = web.Response(status=error.status, headers=headers)
    else:
        resource = op.resource if op is not None else request.path
        body = render_error(error, resource, request_id, host_id)
        headers["Content-Type"] = "application/xml"
        response = web.Response(status=error.status, headers=headers, body=body)
        record.bytes_sent = len(body)
    _close_if_body_unread(response, continuation)
    if isinstance(error, RequestTimeout):
        response.force_close()  # the rest of a stalled body must not be read as a request
    return response


# ---- the process: the S3 app over real clients ------------------------------------------------
SESSION_KEY = web.AppKey("wormfs_session", aiohttp.ClientSession)


async def create_app(
    config: GatewayConfig, secret: bytes, keyring: Keyring | None = None
) -> web.Application:
    """The S3 app over real clients; ``keyring``: the master keys, else those of
    WORMFS_MASTER_KEY or WORMFS_MASTER_KEY_FILE (without either, SSE-S3/KMS are refused)."""
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
    metrics = GatewayMetrics.create()
    if config.workers > 1 and metrics.shared_dir is None:
        log.warning(
            "%d workers without PROMETHEUS_MULTIPROC_DIR: each worker's /metrics counts its "
            "own requests only (set it to an empty directory shared by all of them)",
            config.workers,
        )
    if keyring is None:  # read off the loop, as every file is
        keyring = await asyncio.to_thread(Keyring.load, None, config.kms_keys)
    service = ObjectService(
        coordinator,
        StorageClient(session, secret),
        inline_max=config.inline_max,
        on_degraded_read=metrics.degraded_read,
        keyring=keyring,
    )
    # Opened before serving (a bad path fails the start), off the loop.
    access_log = None
    if config.access_log:
        access_log = await asyncio.to_thread(AccessLog, config.access_log)
    limits = limits_from_environment(os.environ)
    app = create_s3_app(service, config, metrics, access_log, limits)
    app[SESSION_KEY] = session

    async def close_session(app: web.Application) -> AsyncIterator[None]:
        # A rotation's new master key is taken up within a second (wormfs.internal.keyring).
        watching = asyncio.create_task(keyring.watch()) if keyring is not None else None
        yield
        if watching is not None:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
        await coordinator.close()  # stops its ZooKeeper watch, if any
        await app[SESSION_KEY].close()
        if access_log is not None:
            await asyncio.to_thread(access_log.close)

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
