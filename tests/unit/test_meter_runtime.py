"""The dev process's own counters (paygate_local.observability.counters): what the runtime writes for the
bench; and what bench counts from outside for a runtime that keeps none (bench.meters.dev_counters)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from paygate_local.observability import counters as meter

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # bench is not an installed package

from bench.meters.dev_counters import DevCounters  # noqa: E402
from bench.meters.meter_hook import Meter, billed_requests, sqs_send_payload_bytes  # noqa: E402


def test_invocations_are_counted_per_function_with_billed_milliseconds(tmp_path: Path) -> None:
    runtime = meter.RuntimeMeter(tmp_path / "runtime.json")
    runtime.invoked("ApiFunction", duration_ms=10.2, name="paygate-ApiFunction", memory_mb=512)
    runtime.invoked("ApiFunction", duration_ms=0.3, name="paygate-ApiFunction", memory_mb=512)
    runtime.invoked("RelayFunction", duration_ms=5.0, records=3, error=True)
    for _ in range(3):  # the two invocations above, and a 404 the gateway answered itself
        runtime.api_request()
    runtime.stream_request("GetRecords")
    runtime.flush()

    written = json.loads((tmp_path / "runtime.json").read_text())
    assert written["kind"] == "runtime" and written["version"] == 1
    assert written["lambda"]["ApiFunction"] == {"name": "paygate-ApiFunction", "memory_mb": 512, "invocations": 2,
                                                "errors": 0, "records": 0, "duration_ms": 10.5, "billed_ms": 12}
    assert written["lambda"]["RelayFunction"]["records"] == 3 and written["lambda"]["RelayFunction"]["errors"] == 1
    assert written["api"] == {"requests": 3}
    assert written["event_sources"]["streams"] == {"GetRecords": 1}


def test_poller_requests_are_counted_per_queue_with_empty_receives_apart() -> None:
    runtime = meter.RuntimeMeter(None)
    runtime.sqs_request("paygate-commands.fifo", "ReceiveMessage", messages_received=3)
    runtime.sqs_request("paygate-commands.fifo", "ReceiveMessage", messages_received=0)
    runtime.sqs_request("paygate-commands.fifo", "DeleteMessageBatch")

    queue = runtime.snapshot()["event_sources"]["sqs"]["paygate-commands.fifo"]
    assert queue == {"requests": 3, "billed_requests": 3, "messages_received": 3, "empty_receives": 1,
                     "operations": {"ReceiveMessage": 2, "DeleteMessageBatch": 1}}


def test_a_hook_on_the_dev_process_feeds_the_event_source_counts() -> None:
    hook = Meter("paygate-dev", None)
    hook.count("sqs", "ReceiveMessage", {"QueueUrl": "http://127.0.0.1:1/123456789012/q.fifo"})
    hook.count_received("q.fifo", 0)
    hook.count("dynamodbstreams", "GetRecords", {})
    runtime = DevCounters(None, hook=hook)

    sources = runtime.snapshot()["event_sources"]
    assert sources["sqs"]["q.fifo"]["empty_receives"] == 1 and sources["sqs"]["q.fifo"]["requests"] == 1
    assert sources["calls"] == {"sqs": {"ReceiveMessage": 1}, "dynamodbstreams": {"GetRecords": 1}}


def test_write_runtime_meter_for_a_runtime_that_keeps_its_own_counters(tmp_path: Path) -> None:
    meter.write_runtime_meter(meter.meter_dir(tmp_path) / meter.RUNTIME_FILE, {"api": {"requests": 7}})
    written = json.loads((tmp_path / "meter" / "runtime.json").read_text())
    assert written["api"] == {"requests": 7} and written["kind"] == "runtime"
    assert meter.metering_requested({"PAYGATE_METER": "1"}) and not meter.metering_requested({})


def test_sqs_bills_each_64_kb_chunk_of_a_send() -> None:
    assert billed_requests(0) == 1
    assert billed_requests(64 * 1024) == 1
    assert billed_requests(64 * 1024 + 1) == 2
    assert billed_requests(256 * 1024) == 4
    batch = {"Entries": [{"MessageBody": "x" * 40_000}, {"MessageBody": "y" * 40_000,
                                                         "MessageAttributes": {"k": {"DataType": "String",
                                                                                     "StringValue": "v"}}}]}
    assert sqs_send_payload_bytes("SendMessageBatch", batch) == [80_000 + 1 + 6 + 1]
    assert sqs_send_payload_bytes("SendMessage", {"MessageBody": "é"}) == [2]
