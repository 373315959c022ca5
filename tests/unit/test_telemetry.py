"""Telemetry goes through the Functions Python worker's own OpenTelemetry: importing the app configures
no exporter (cold start), and our spans go to whatever tracer provider the worker set up, under the
host's trace context. Each case runs in a new interpreter: the global tracer provider is set once per
process."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONNECTION_STRING = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://127.0.0.1:9/"


def run_python(code: str) -> str:
    env = {**os.environ, "APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION_STRING}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout.strip().splitlines()[-1]


def test_importing_the_app_configures_no_exporter_even_with_application_insights_set() -> None:
    loaded = run_python(
        "import sys, function_app\n"
        "print([m for m in sys.modules if m.startswith(('azure.monitor', 'opentelemetry.sdk'))])"
    )

    assert loaded == "[]"


def test_spans_go_to_the_provider_the_worker_set_up_under_the_hosts_trace() -> None:
    # What the worker does: configure_azure_monitor() sets the global SDK tracer provider at worker
    # init; each invocation attaches the host's traceparent. Here an in-memory exporter stands for Azure.
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    exported = run_python(
        "import json\n"
        "from opentelemetry import context, trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator\n"
        "exporter = InMemorySpanExporter()\n"
        "provider = TracerProvider()\n"
        "provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
        "trace.set_tracer_provider(provider)\n"
        "import function_app\n"
        "from services.common.telemetry import span\n"
        f"carrier = {{'traceparent': '00-{trace_id}-00f067aa0ba902b7-01'}}\n"
        "context.attach(TraceContextTextMapPropagator().extract(carrier))\n"
        "with span('retrieve', top_k=6):\n"
        "    pass\n"
        "[s] = exporter.get_finished_spans()\n"
        "print(json.dumps([s.name, dict(s.attributes), format(s.context.trace_id, '032x'), s.parent is not None]))"
    )

    assert json.loads(exported) == ["retrieve", {"top_k": 6}, trace_id, True]
