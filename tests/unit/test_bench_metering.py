"""The bench's arithmetic: percentiles, meter snapshots, their differences, figures per payment, tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import metering, report  # noqa: E402
from bench.client import latency_ms, percentile  # noqa: E402

# ---------------------------------------------------------------------------------------- percentiles


def test_percentiles_interpolate_between_closest_ranks_like_numpy() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 90) == pytest.approx(3.7)
    assert percentile(values, 100) == 4.0
    assert percentile([5.0], 99) == 5.0
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_latencies_are_reported_in_milliseconds() -> None:
    assert latency_ms([0.1, 0.2, 0.3]) == {"p50": 200.0, "p90": 280.0, "p99": 298.0}
    assert latency_ms([]) == {"p50": None, "p90": None, "p99": None}


# ---------------------------------------------------------------------------------------- snapshots


def write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data))


def calls_file(function: str, pid: int, calls: dict, sqs: dict | None = None) -> dict:
    return {"version": 1, "kind": "calls", "function": function, "pid": pid, "python": "/usr/bin/python3.12",
            "python_version": "3.12.1", "sys_path": ["/code"], "calls": calls, "sqs": sqs or {}}


def runtime_file(invocations: int, receives: int, empty: int) -> dict:
    return {"version": 1, "kind": "runtime", "pid": 1,
            "lambda": {"ApiFunction": {"name": "paygate-ApiFunction", "memory_mb": 512, "invocations": invocations,
                                       "errors": 0, "records": 0, "duration_ms": 50.0 * invocations,
                                       "billed_ms": 50 * invocations}},
            "api": {"requests": invocations},
            "event_sources": {"sqs": {"paygate-commands.fifo": {
                "requests": receives + invocations, "billed_requests": receives + invocations,
                "messages_received": invocations, "empty_receives": empty,
                "operations": {"ReceiveMessage": receives, "DeleteMessageBatch": invocations}}}, "calls": {}}}


def test_a_meter_dir_sums_every_worker_process_of_a_function(tmp_path: Path) -> None:
    write(tmp_path / "calls-paygate-ApiFunction-1.json",
          calls_file("paygate-ApiFunction", 1, {"dynamodb": {"GetItem": 2}}))
    write(tmp_path / "calls-paygate-ApiFunction-2.json",
          calls_file("paygate-ApiFunction", 2, {"dynamodb": {"GetItem": 1, "PutItem": 1}},
                     {"paygate-commands.fifo": {"requests": 1, "billed_requests": 1, "messages_sent": 1,
                                                "messages_received": 0, "empty_receives": 0}}))
    write(tmp_path / "capacity-9.json", {"kind": "capacity", "tables": {"t": {"": {"GetItem": {"rru": 1.5}}}}})
    write(tmp_path / "runtime.json", runtime_file(3, 5, 2))
    (tmp_path / ".meter-x.tmp").write_text("{half")  # a file being written: not a *.json, ignored

    snapshot = metering.read_meter_dir(tmp_path)

    assert snapshot["workers"]["paygate-ApiFunction"]["calls"] == {"dynamodb": {"GetItem": 3, "PutItem": 1}}
    assert snapshot["capacity"] == {"t": {"": {"GetItem": {"rru": 1.5}}}}
    assert snapshot["runtime"]["api"] == {"requests": 3}
    assert snapshot["interpreters"]["paygate-ApiFunction"]["python"] == "/usr/bin/python3.12"
    assert metering.read_meter_dir(tmp_path / "missing")["workers"] == {}


def test_diff_subtracts_numbers_and_counts_what_is_new_from_zero() -> None:
    before = {"workers": {"f": {"calls": {"dynamodb": {"GetItem": 2}}}}, "runtime": None}
    after = {"workers": {"f": {"calls": {"dynamodb": {"GetItem": 5, "PutItem": 1}}},
                         "g": {"calls": {"sqs": {"SendMessage": 2}}}},
             "runtime": {"api": {"requests": 4}}}
    assert metering.diff(after, before) == {
        "workers": {"f": {"calls": {"dynamodb": {"GetItem": 3, "PutItem": 1}}},
                    "g": {"calls": {"sqs": {"SendMessage": 2}}}},
        "runtime": {"api": {"requests": 4}}}


def test_idle_polling_is_not_activity_but_a_delete_is() -> None:
    base = {"runtime": runtime_file(3, 5, 2), "workers": {}, "capacity": {}}
    polled = {"runtime": runtime_file(3, 50, 47), "workers": {}, "capacity": {}}
    assert metering.activity(base) == metering.activity(polled)
    worked = json.loads(json.dumps(polled))
    worked["runtime"]["event_sources"]["sqs"]["paygate-commands.fifo"]["operations"]["DeleteMessageBatch"] += 1
    assert metering.activity(worked) != metering.activity(polled)


def test_usage_divides_by_the_payments_and_leaves_out_empty_receives() -> None:
    before = {"runtime": runtime_file(0, 0, 0), "workers": {}, "capacity": {}}
    after = {
        "runtime": runtime_file(4, 10, 6),  # 4 receives carried messages, 6 were empty
        "workers": {"paygate-ApiFunction": {
            "calls": {"dynamodb": {"TransactWriteItems": 2}, "sqs": {"SendMessageBatch": 2}},
            "sqs": {"paygate-webhooks": {"requests": 2, "billed_requests": 2, "messages_sent": 6}}}},
        "capacity": {"paygate-AggregatesTable": {"": {"TransactWriteItems": {"requests": 2, "failed": 0,
                                                                             "wru": 8, "rru": 0.0}},
                                                 "gsi1": {"TransactWriteItems": {"wru": 2, "rru": 0.0}}}},
    }
    usage = metering.usage(metering.diff(after, before), 2, log_bytes_delta=1000, transfer_out_bytes=4000)

    assert usage.aws_calls == {"dynamodb": {"TransactWriteItems": 1.0}, "sqs": {"SendMessageBatch": 1.0}}
    assert usage.total_calls == 2
    assert (usage.wru, usage.rru) == (5.0, 0.0)
    assert usage.sqs_send_requests == 1 and usage.sqs_messages_sent == 3
    # the pollers: 4 receives with messages + 4 deletes, over 2 payments; the 6 empty receives apart
    assert usage.sqs_event_source_requests == 4 and usage.sqs_empty_receives == 3
    assert usage.sqs_requests == {"fifo": 4.0, "standard": 1.0}
    assert usage.invocations == {"ApiFunction": 2.0}
    assert usage.gb_seconds == pytest.approx(4 * 0.050 * 0.5 / 2)
    assert usage.api_requests == 2
    assert usage.log_bytes == (1000 + 4 * metering.PLATFORM_LOG_BYTES_PER_INVOCATION) / 2
    assert usage.quantities()["transfer_out_gb"] == pytest.approx(2000 / 1024 ** 3)


def test_without_runtime_counters_the_invocation_figures_are_unknown() -> None:
    usage = metering.usage({"workers": {"f": {"calls": {"dynamodb": {"GetItem": 3}}}}, "runtime": None,
                            "capacity": {}}, 3)
    assert usage.metered and not usage.runtime_metered
    assert usage.quantities()["lambda_requests"] is None and usage.quantities()["api_requests"] is None


# ---------------------------------------------------------------------------------------- tables


def test_tables_align_columns_and_names_lose_their_shared_stack_prefix() -> None:
    assert report.table([("a", "1"), ("long name", "22")], ("", "x")).splitlines() == [
        "            x", "---------  --", "a           1", "long name  22"]
    names = ["paygate-AggregatesTable", "paygate-MerchantsTable"]
    assert report.short("paygate-AggregatesTable", names) == "AggregatesTable"
    assert report.short("t", ["t", "paygate-x"]) == "t"
    assert report.num(0.5) == "0.5" and report.num(2.0) == "2" and report.num(None) == "n/a"


def test_at_load_lambda_is_priced_at_the_uncontended_duration_per_record() -> None:
    # One at a time: the relay takes 20 ms for its 2 records, the API 30 ms a request.
    reference = metering.Usage(payments=10, runtime_metered=True,
                               invocations={"RelayFunction": 3.0, "ApiFunction": 1.0},
                               records_per_invocation={"RelayFunction": 2.0, "ApiFunction": 0.0},
                               mean_duration_ms={"RelayFunction": 20.0, "ApiFunction": 30.0})
    # At load: batches of 10 records took 400 ms waiting for a core; a dead-letter run appeared too.
    target = metering.Usage(payments=100, runtime_metered=True,
                            invocations={"RelayFunction": 0.6, "ApiFunction": 1.0, "DeadLetterFunction": 0.01},
                            records_per_invocation={"RelayFunction": 10.0, "ApiFunction": 0.0,
                                                    "DeadLetterFunction": 1.0},
                            mean_duration_ms={"RelayFunction": 400.0, "ApiFunction": 300.0,
                                              "DeadLetterFunction": 50.0},
                            memory_mb={"RelayFunction": 512, "ApiFunction": 1024, "DeadLetterFunction": 512})

    gb_seconds = metering.scaled_gb_seconds(reference, target)

    relay = 0.6 * (20.0 / 2 * 10) / 1000 * 0.5  # 10 ms a record
    api = 1.0 * 30.0 / 1000 * 1.0  # the uncontended duration of a request
    dead_letter = 0.01 * 50.0 / 1000 * 0.5  # not seen one at a time: as measured
    assert gb_seconds == pytest.approx(relay + api + dead_letter)
    target.gb_seconds, target.gb_seconds_priced = 9.9, gb_seconds
    assert target.quantities()["lambda_gb_seconds"] == gb_seconds
    assert metering.scaled_gb_seconds(metering.Usage(payments=1), target) is None
