"""The API function's cold start beyond its import: its first invocations, in fresh processes.

A cold import says what the module costs before the first request; work deferred to that request
(a validator built when a route is first called, a boto3 client made when first used) is invisible
to it. So each probe is a fresh process, with the function's environment and on the interpreter its
workers use, that imports the handler module and then invokes it, one event after the other, against
the backend of a running ``paygate dev``:

- ``first``: ``POST /v1/payments`` (auth, body validation, the creating transaction, the answer's model);
- ``warm``: the same request again with another Idempotency-Key: what a warm invocation costs;
- ``other_route``: ``GET /v1/payments?limit=1``, the first call of a second route.

Each figure is the median over ``runs`` processes, in ms of wall time (``median_ms``, what Lambda bills)
and of the process's CPU time (``cpu_ms``: steadier on a busy machine, it leaves out waiting for the
backend and for a core); ``first - warm`` is what the first request pays once (boto3's clients and
connections, validators and serializers built on first use).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import uuid
from pathlib import Path
from typing import Any

from .system import GatewayError, ImportTarget

PROBE = r"""
import importlib, json, sys, time
spec = json.loads(sys.argv[1])
sys.path[:0] = [p for p in spec["paths"] if p not in sys.path]

class Context:
    function_name = spec["function_name"]
    function_version = "$LATEST"
    memory_limit_in_mb = spec["memory_mb"]
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + spec["function_name"]
    aws_request_id = "bench-cold-start"
    log_group_name = "/aws/lambda/" + spec["function_name"]
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 15000

started, cpu = time.perf_counter(), time.process_time()
module = importlib.import_module(spec["module"])
figures = {"import": time.perf_counter() - started, "import_cpu": time.process_time() - cpu}
handler = getattr(module, spec["handler"])
for label, event in spec["events"]:
    started, cpu = time.perf_counter(), time.process_time()
    answer = handler(event, Context())
    figures[label], figures[label + "_cpu"] = time.perf_counter() - started, time.process_time() - cpu
    figures[label + "_status"] = answer["statusCode"]
print("\n" + json.dumps(figures))
"""

API_EVENTS = Path(__file__).resolve().parents[1] / "events" / "api"


def _event(name: str, api_key: str, **changes: Any) -> dict[str, Any]:
    event = json.loads((API_EVENTS / name).read_text())
    for headers in (event["headers"], event["multiValueHeaders"]):
        for key, value in list(headers.items()):
            if key == "Authorization":
                headers[key] = [f"Bearer {api_key}"] if isinstance(value, list) else f"Bearer {api_key}"
            if key == "Idempotency-Key":
                fresh = "bench-" + uuid.uuid4().hex
                headers[key] = [fresh] if isinstance(value, list) else fresh
    event.update(changes)
    return event


def api_events(api_key: str) -> list[tuple[str, dict[str, Any]]]:
    listing = _event("list_payments.json", api_key, queryStringParameters={"limit": "1"},
                     multiValueQueryStringParameters={"limit": ["1"]})
    return [("first", _event("create_payment.json", api_key)), ("warm", _event("create_payment.json", api_key)),
            ("other_route", listing)]


def probe(target: ImportTarget, function_name: str, memory_mb: int, aws_endpoint_url: str,
          events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    module, _, handler = target.statement.removeprefix("import ").partition(" ")
    spec = {"paths": target.paths, "module": module, "handler": handler or "handler", "events": events,
            "function_name": function_name, "memory_mb": memory_mb}
    env = {**target.env, "AWS_ENDPOINT_URL": aws_endpoint_url}
    done = subprocess.run([target.python, "-c", PROBE, json.dumps(spec)], cwd=target.cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise GatewayError(f"invoking {target.label} failed: {done.stderr[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def api_cold_start(targets: list[ImportTarget], info: dict[str, Any], runs: int) -> dict[str, Any] | None:
    """Median import and first invocations of ApiFunction over ``runs`` fresh processes, against the
    backend of the running gateway ``info`` (its dev.json), next to the baseline statement's import."""
    api = next((t for t in targets if t.label == "ApiFunction"), None)
    if api is None or runs <= 0:
        return None
    name = api.env.get("AWS_LAMBDA_FUNCTION_NAME", "ApiFunction")
    memory = int(api.env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"))
    samples: list[dict[str, Any]] = []
    for _ in range(runs):
        figures = probe(api, name, memory, info["aws_endpoint_url"], api_events(info["api_key"]))
        if figures.get("first_status") != 202 or figures.get("other_route_status") != 200:
            raise GatewayError(f"ApiFunction's cold-start probe was not answered as expected: {figures}")
        samples.append(figures)
    labels = ("import", "first", "warm", "other_route")
    median = {label: round(1000 * statistics.median(s[label] for s in samples), 1) for label in labels}
    cpu = {label: round(1000 * statistics.median(s[label + "_cpu"] for s in samples), 1) for label in labels}
    return {"function": "ApiFunction", "runs": runs, "python": api.python, "median_ms": median, "cpu_ms": cpu}


def cold_start_lines(cold: dict[str, Any] | None, imports: dict[str, Any] | None = None) -> list[str]:
    if not cold:
        return []
    ms, cpu = cold["median_ms"], cold.get("cpu_ms", {})
    base = (imports or {}).get("median_ms", {}).get("baseline")
    ratio = f" ({ms['import'] / base:.2f}x the baseline statement)" if base else ""
    lines = [f"ApiFunction cold start, median of {cold['runs']} fresh processes, against the running gateway:",
             f"  import {ms['import']:.0f} ms{ratio}; first invocation (POST /v1/payments) {ms['first']:.0f} ms; "
             f"the same again, warm {ms['warm']:.0f} ms; first call of another route (GET /v1/payments) "
             f"{ms['other_route']:.0f} ms"]
    if cpu:
        lines.append(f"  CPU time: import {cpu['import']:.0f} ms, first invocation {cpu['first']:.0f} ms, "
                     f"warm {cpu['warm']:.0f} ms, another route {cpu['other_route']:.0f} ms")
    return lines
