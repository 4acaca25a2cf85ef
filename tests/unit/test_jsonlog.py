"""The runtime's one JSON-line writer: the fields each kind of line has (the log shipper, `paygate logs`
and the tests read them), and the one context object a handler gets."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import time
from pathlib import Path

from paygate_local.lambda_.context import LambdaContext
from paygate_local.observability import jsonlog

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_a_note_in_a_function_log_says_it_comes_from_the_runtime(tmp_path: Path) -> None:
    log = tmp_path / "Fn.log"
    jsonlog.note(log, "ERROR", "Task timed out after 3.00 seconds", requestId="r-1")
    jsonlog.note(log, "WARNING", "SQS batch failed", error={"errorType": "X"}, when=Path("/x"))
    first, second = (json.loads(line) for line in log.read_text().splitlines())
    assert first == {"level": "ERROR", "timestamp": first["timestamp"], "message": "Task timed out after 3.00 seconds",
                     "source": "paygate_local", "requestId": "r-1"}
    assert STAMP.match(first["timestamp"])
    assert second["error"] == {"errorType": "X"} and second["when"] == "/x"  # no JSON type: its str


def test_the_timestamp_is_utc_to_the_millisecond() -> None:
    assert jsonlog.timestamp(1_795_514_400.5) == "2026-11-24T10:00:00.500Z"
    assert STAMP.match(jsonlog.timestamp())


def test_the_runtime_log_lines_carry_the_logger_and_the_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("paygate_local", logging.ERROR, __file__, 1, "checkpoint %s", ("failed",),
                                   sys.exc_info())
    line = json.loads(jsonlog.JsonFormatter().format(record))
    assert {k: line[k] for k in ("level", "logger", "message")} == {
        "level": "ERROR", "logger": "paygate_local", "message": "checkpoint failed"}
    assert "ValueError: boom" in line["exception"] and STAMP.match(line["timestamp"])


def test_a_line_file_drops_what_comes_after_it_is_closed(tmp_path: Path) -> None:
    access = jsonlog.LineFile(tmp_path / "api.log")
    access.write({"timestamp": jsonlog.timestamp(), "method": "GET", "status": 200})
    access.close()
    access.write({"method": "late"})
    assert [json.loads(line)["method"] for line in (tmp_path / "api.log").read_text().splitlines()] == ["GET"]


def test_the_context_reads_the_function_from_its_environment() -> None:
    context = LambdaContext("req-1", int(time.time() * 1000) + 5_000, "arn:aws:lambda:us-east-1:1:function:f",
                            environ={"AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"})
    assert (context.aws_request_id, context.function_name, context.memory_limit_in_mb) == ("req-1", "f", "256")
    assert 4_000 < context.get_remaining_time_in_millis() <= 5_000
    assert LambdaContext("r", 0, "arn", environ={}).get_remaining_time_in_millis() == 0


def test_the_worker_main_loads_without_paygate_local(tmp_path: Path) -> None:
    # As in the function's interpreter: isolated (-I), so no paygate_local on sys.path.
    main = Path(jsonlog.__file__).parents[1] / "lambda_" / "worker_main.py"
    probe = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('wm', sys.argv[1]); "
             "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
             "assert not any(n.startswith('paygate_local') for n in sys.modules); print(m.LambdaContext.__name__)")
    done = subprocess.run([sys.executable, "-I", "-c", probe, str(main)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "LambdaContext"
