"""The spans file stays bounded, and `paygate trace` reads a trace across its rotation.

Every worker of every function (and the sandbox) appends to one file under paygate dev's state
directory; past a size it is rotated to ``<path>.1``. Nothing here sleeps: the writers are driven
directly, the processes are joined.
"""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from paygate.observability.tracing import TRACES_MAX_BYTES_ENV, SpansFile, span_line
from paygate_local.observability import trace as traces


def _lines(path: Path) -> list[str]:
    return [line for part in traces.span_files(path) for line in part.read_text().splitlines()]


def test_the_file_is_rotated_past_its_size_and_only_one_old_part_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "traces" / "spans.jsonl"
    out = SpansFile(path, max_bytes=1000)
    for n in range(100):
        out.write(json.dumps({"n": n, "pad": "x" * 80}) + "\n")  # ~100 bytes a line, 10,000 in all

    assert path.exists() and Path(f"{path}.1").exists()
    assert not Path(f"{path}.2").exists()
    assert path.stat().st_size <= 1000 and Path(f"{path}.1").stat().st_size <= 1100
    kept = [json.loads(line)["n"] for line in _lines(path)]
    assert kept == list(range(kept[0], 100)), "the newest lines, in order, none torn or missing"
    assert len(kept) >= 10


def test_a_writer_follows_a_rotation_made_by_another(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    first, second = SpansFile(path, max_bytes=500), SpansFile(path, max_bytes=500)
    second.write("from the second, before\n")
    for n in range(6):
        first.write(json.dumps({"n": n, "pad": "y" * 80}) + "\n")  # passes 500: rotated by the first
    second.write("from the second, after\n")

    assert "from the second, before" in Path(f"{path}.1").read_text()
    now = path.read_text()
    assert now.endswith("from the second, after\n") and "before" not in now, "the second reopened the new file"


def test_the_size_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TRACES_MAX_BYTES_ENV, "2048")
    assert SpansFile(tmp_path / "spans.jsonl").max_bytes == 2048


def _write_from_a_process(path: str, who: int) -> None:
    out = SpansFile(path, max_bytes=20_000)
    for n in range(400):
        out.write(json.dumps({"who": who, "n": n, "pad": "z" * 150}) + "\n")


def test_processes_writing_at_once_leave_whole_lines_and_a_bounded_file(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_write_from_a_process, args=(str(path), who)) for who in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0

    lines = _lines(path)  # 4 x 400 lines of ~200 bytes were written: ~320 KB
    assert all(json.loads(line)["pad"] == "z" * 150 for line in lines), "no line torn or interleaved"
    on_disk = sum(part.stat().st_size for part in traces.span_files(path))
    assert on_disk <= 2 * 20_000 + 4 * 250, on_disk
    for who in range(4):  # each writer's lines keep their order
        mine = [json.loads(line)["n"] for line in lines if json.loads(line)["who"] == who]
        assert mine == sorted(mine)


def _tracer(out: SpansFile, service: str):
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out, formatter=span_line)))
    return provider.get_tracer("test")


def test_paygate_trace_finds_a_payment_whose_spans_straddle_a_rotation(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    out = SpansFile(path, max_bytes=4000)
    api, processor = _tracer(out, "api"), _tracer(out, "processor")
    for other in range(3):  # other payments' traces, before and after
        with api.start_as_current_span("POST /v1/payments", attributes={"payment.id": f"pay_other{other}"}):
            pass
    with api.start_as_current_span("POST /v1/payments", attributes={"payment.id": "pay_1"}):
        for n in range(6):  # the file passes 4,000 bytes among these (a span is 600-900 bytes)
            with processor.start_as_current_span(f"step {n}"):
                pass
    with api.start_as_current_span("POST /v1/payments", attributes={"payment.id": "pay_other3"}):
        pass
    assert "step 0" in Path(f"{path}.1").read_text() and '"pay_1"' in path.read_text(), "it straddles"

    spans = traces.payment_trace(path, "pay_1")

    assert {s.trace_id for s in spans} == {spans[0].trace_id}
    assert [s.name for s in spans] == ["POST /v1/payments"] + [f"step {n}" for n in range(6)]
    assert {s.service for s in spans} == {"api", "processor"}
    with pytest.raises(traces.TraceError):
        traces.payment_trace(path, "pay_unknown")
