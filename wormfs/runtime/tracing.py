"""OpenTelemetry traces of a daemon's HTTP work, on request: one trace per S3 request.

Layer: runtime (process start-up). Off unless ``WORMFS_TRACING`` is set, and then nothing of
OpenTelemetry is even imported (the optional ``tracing`` extra installs it). Contract:
``start_tracing(daemon, environ)`` returns None when off; when on it installs a tracer provider
for ``wormfs-<daemon>``, instruments aiohttp's server (a span per request answered, its parent
taken from an incoming ``traceparent``) and client (a span per request sent, ``traceparent``
added to its headers), and returns the function that flushes and stops it at exit.

``WORMFS_TRACING`` names where spans go: ``otlp`` (OTLP over HTTP, configured by the standard
``OTEL_EXPORTER_OTLP_*`` variables) or a file that spans are appended to as JSON lines (a
``{pid}`` in the path is replaced by the process id, so that each process has its own file).
Spans are exported from a thread of their own in batches, never from the event loop.

An S3 PUT so gives one trace: the gateway's server span, its client spans to the coordinator
and to each storage node, and those daemons' server spans under them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

TRACING_ENV = "WORMFS_TRACING"
EXPORT_DELAY_MS = 500


def start_tracing(daemon: str, environ: Mapping[str, str]) -> Callable[[], None] | None:
    target = environ.get(TRACING_ENV, "")
    if not target:
        return None
    # Imported only now: a daemon without tracing never loads OpenTelemetry.
    from opentelemetry import trace
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    provider = TracerProvider(resource=Resource.create({"service.name": f"wormfs-{daemon}"}))
    exporter: SpanExporter
    if target == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    else:

        def one_line(span: ReadableSpan) -> str:
            return str(span.to_json(indent=None)) + "\n"

        # Line-buffered: each span leaves in one write, so appends never interleave lines.
        out = open(target.replace("{pid}", str(os.getpid())), "a", buffering=1)  # noqa: SIM115
        exporter = ConsoleSpanExporter(out=out, formatter=one_line)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=EXPORT_DELAY_MS))
    trace.set_tracer_provider(provider)
    AioHttpServerInstrumentor().instrument(tracer_provider=provider)
    AioHttpClientInstrumentor().instrument(tracer_provider=provider)
    return provider.shutdown
