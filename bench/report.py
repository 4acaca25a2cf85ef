"""Tables for people: one gateway's figures (``render``) or two side by side (``render_compare``)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from . import pricing
from .coldstart import cold_start_lines

Row = tuple[str, ...]


def table(rows: Sequence[Row], header: Row | None = None) -> str:
    all_rows = ([header] if header else []) + [r for r in rows]
    widths = [max(len(r[i]) if i < len(r) else 0 for r in all_rows) for i in range(max(len(r) for r in all_rows))]
    lines = []
    for index, row in enumerate(all_rows):
        cells = [row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i]) for i in range(len(row))]
        lines.append("  ".join(cells).rstrip())
        if header and index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def num(value: Any, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        text = f"{value:.{digits}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text + unit
    return f"{value}{unit}"


def latency(figures: dict[str, Any] | None, key: str = "webhook_latency_ms") -> str:
    if not figures:
        return "n/a"
    values = figures[key]
    return " / ".join(num(values[p], 0) for p in ("p50", "p90", "p99")) + " ms"


def short(name: str, names: Sequence[str]) -> str:
    """``paygate-AggregatesTable`` -> ``AggregatesTable`` when every name shares the ``paygate-`` prefix."""
    prefixes = {n.split("-", 1)[0] for n in names if "-" in n}
    if len(prefixes) == 1 and all("-" in n for n in names):
        return name.split("-", 1)[1]
    return name


def _usage(figures: dict[str, Any] | None) -> dict[str, Any] | None:
    return (figures or {}).get("usage")


def scenario_rows(columns: Sequence[dict[str, Any] | None]) -> list[Row]:
    """Rows of figures for several scenario results (one column each)."""

    def row(name: str, get: Callable[[dict[str, Any]], str]) -> Row:
        return (name, *(get(c) if c else "n/a" for c in columns))

    def used(get: Callable[[dict[str, Any]], Any], digits: int = 1, unit: str = "") -> Callable[[dict[str, Any]], str]:
        def cell(figures: dict[str, Any]) -> str:
            usage = figures.get("usage") or {}
            return num(get(usage), digits, unit) if usage.get("metered") or usage.get("runtime_metered") else "n/a"
        return cell

    rows: list[Row] = [
        row("payments completed / accepted", lambda f: f"{f['completed']}/{f['accepted']}"),
        row("payments/s", lambda f: num(f["payments_per_s"], 2)),
        row("POST -> webhook p50 / p90 / p99", latency),
        row("POST p50 / p90 / p99", lambda f: latency(f, "post_latency_ms")),
        row("AWS calls per payment (functions)", used(lambda u: u["total_calls"] if u["metered"] else None)),
    ]
    services = sorted({s for c in columns if _usage(c) for s in _usage(c)["aws_calls"]})
    for service in services:
        ops = sorted({op for c in columns if _usage(c) for op in _usage(c)["aws_calls"].get(service, {})})
        rows.append(row(f"  {service}", used(lambda u, s=service: sum(u["aws_calls"].get(s, {}).values()))))
        for op in ops:
            rows.append(row(f"    {op}", used(lambda u, s=service, o=op: u["aws_calls"].get(s, {}).get(o, 0.0), 2)))
    rows += [
        row("DynamoDB WRU per payment", used(lambda u: u["wru"] if u["metered"] else None, 2)),
        row("DynamoDB RRU per payment", used(lambda u: u["rru"] if u["metered"] else None, 2)),
        row("SQS send requests (messages)", _sends_cell),
        row("SQS requests billed: FIFO", used(lambda u: u["sqs_requests"]["fifo"], 2)),
        row("SQS requests billed: standard", used(lambda u: u["sqs_requests"]["standard"], 2)),
        row("  of which by the event source mappings", used(lambda u: u["sqs_event_source_requests"]
                                                               if u["runtime_metered"] else None, 2)),
        row("Lambda invocations per payment", used(lambda u: u["total_invocations"] if u["runtime_metered"] else None, 2)),
    ]
    functions = sorted({fn for c in columns if _usage(c) for fn in _usage(c)["invocations"]})
    for fn in functions:
        rows.append(row(f"  {fn}", lambda f, fn=fn: _invocation_cell(f, fn)))
    rows += [
        row("API Gateway requests per payment", used(lambda u: u["api_requests"], 2)),
        row("Lambda GB-s per payment, measured here", used(lambda u: u["gb_seconds"], 4)),
        row("Lambda GB-s per payment, priced", used(lambda u: u["gb_seconds"] if u["gb_seconds_priced"] is None
                                                    else u["gb_seconds_priced"], 4)),
    ]
    return rows


def _sends_cell(figures: dict[str, Any]) -> str:
    usage = figures.get("usage") or {}
    if not usage.get("metered"):
        return "n/a"
    return f"{num(usage['sqs_send_requests'], 2)} ({num(usage['sqs_messages_sent'], 2)})"


def _invocation_cell(figures: dict[str, Any], fn: str) -> str:
    usage = figures.get("usage") or {}
    if not usage.get("runtime_metered"):
        return "n/a"
    count = usage["invocations"].get(fn)
    if not count:
        return "0"
    return (f"{num(count, 2)} x {num(usage['records_per_invocation'][fn], 1)} rec, "
            f"{num(usage['mean_duration_ms'][fn], 0)} ms")


def cost_rows(columns: Sequence[dict[str, Any] | None]) -> list[Row]:
    rows: list[Row] = [("Price per 1M payments (us-east-1)",
                        *(num((c or {}).get("cost_per_million", {}).get("total"), 2, "") if c else "n/a"
                          for c in columns))]
    rows = [(rows[0][0], *("$" + cell if cell != "n/a" else cell for cell in rows[0][1:]))]
    for key, price in pricing.PRICES.items():
        cells = []
        for c in columns:
            line = next((line for line in (c or {}).get("cost_per_million", {}).get("lines", []) if line["key"] == key),
                        None)
            cells.append("n/a" if line is None else f"${line['per_million']:.2f}")
        rows.append((f"  {price.item}", *cells))
    return rows


def capacity_rows(figures: dict[str, Any] | None) -> list[Row]:
    usage = _usage(figures)
    if not usage or not usage["capacity"]:
        return []
    names = [r["table"] for r in usage["capacity"]]
    return [(short(r["table"], names) + (f"/{r['index']}" if r["index"] else ""), r["operation"],
             num(r["requests"], 2), num(r["wru"], 2), num(r["rru"], 2)) for r in usage["capacity"]]


def render(summary: dict[str, Any]) -> str:
    columns = [summary.get("sequential"), summary.get("load")]
    load = summary.get("load") or {}
    header = ("", "one at a time", f"at load ({load.get('concurrency', '?')} clients)")
    parts = [f"paygate dev: {summary.get('tree')} (metering: {summary.get('metering')})", "",
             table(scenario_rows(columns) + cost_rows(columns), header)]
    capacity = capacity_rows(summary.get("sequential"))
    if capacity:
        parts += ["", "DynamoDB per payment, one at a time",
                  table(capacity, ("table/index", "operation", "requests", "WRU", "RRU"))]
    parts += ["", *idle_lines(summary.get("idle")), *import_lines(summary.get("imports")),
             *cold_start_lines(summary.get("cold_start"), summary.get("imports")),
              *(f"note: {note}" for note in summary.get("notes", [])),
              "", price_note(), "", "result: " + ("PASS" if summary.get("passed") else "FAIL")]
    return "\n".join(parts)


def idle_lines(idle: dict[str, Any] | None) -> list[str]:
    if not idle:
        return []
    requests = idle.get("poller_sqs_requests_per_s")
    return [f"idle: {num(idle['cpu_percent'], 2)}% of one core over {num(idle['seconds'], 0)} s"
            + (f", the pollers' SQS requests {num(requests, 1)}/s" if requests is not None else "")]


def import_lines(imports: dict[str, Any] | None) -> list[str]:
    if not imports:
        return []
    medians, ratios = imports["median_ms"], imports["ratio"]
    lines = [f"cold import, median of {imports['runs']} fresh processes on {imports['python']}:",
             f"  baseline `{imports['baseline_statement']}`: {num(medians.get('baseline'), 0)} ms"]
    lines += [f"  {label}: {num(ms, 0)} ms ({num(ratios.get(label), 2)}x)"
              for label, ms in medians.items() if label != "baseline"]
    return lines


def price_note() -> str:
    return (f"Prices: {pricing.REGION}, checked {pricing.PRICES_CHECKED} (bench/pricing.py lists the sources). "
            f"Not priced: {pricing.NOT_PRICED}. Lambda duration: one at a time, the local workers'; at "
            "load, each function's duration per record one at a time times the records it carried (here, "
            "under load, an invocation mostly waits for one of 2 cores).")


def render_compare(result: dict[str, Any]) -> str:
    base, this = result["baseline"], result["this"]
    header = ("", f"baseline ({base.get('label')})", f"this tree ({this.get('label')})", "ratio")

    def ratio(a: float | None, b: float | None) -> str:
        return f"{b / a:.2f}x" if a and b is not None else "n/a"

    rows: list[Row] = []
    for name, section, get in (
        ("payments/s at load", "load", lambda f: f.get("payments_per_s")),
        ("POST -> webhook p50 one at a time (ms)", "sequential", lambda f: f["webhook_latency_ms"]["p50"]),
        ("POST -> webhook p90 one at a time (ms)", "sequential", lambda f: f["webhook_latency_ms"]["p90"]),
        ("POST -> webhook p50 at load (ms)", "load", lambda f: f["webhook_latency_ms"]["p50"]),
        ("DynamoDB WRU per payment", "sequential", lambda f: f["usage"]["wru"] if f["usage"]["metered"] else None),
        ("DynamoDB RRU per payment", "sequential", lambda f: f["usage"]["rru"] if f["usage"]["metered"] else None),
        ("AWS calls per payment", "sequential", lambda f: f["usage"]["total_calls"] if f["usage"]["metered"] else None),
        ("Lambda invocations per payment", "sequential",
         lambda f: f["usage"]["total_invocations"] if f["usage"]["runtime_metered"] else None),
        ("$ per 1M payments, one at a time", "sequential", lambda f: f["cost_per_million"]["total"]),
        ("$ per 1M payments, at load", "load", lambda f: f["cost_per_million"]["total"]),
    ):
        a = get(base[section]) if base.get(section) else None
        b = get(this[section]) if this.get(section) else None
        rows.append((name, num(a, 2), num(b, 2), ratio(a, b)))
    a = (base.get("idle") or {}).get("cpu_percent")
    b = (this.get("idle") or {}).get("cpu_percent")
    rows.append(("idle CPU (% of one core)", num(a, 2), num(b, 2), ratio(a, b)))
    for label in (this.get("imports") or {}).get("ratio", {}):
        a = (base.get("imports") or {}).get("ratio", {}).get(label)
        b = this["imports"]["ratio"][label]
        rows.append((f"cold import {label} (x baseline statement)", num(a, 2), num(b, 2), ratio(a, b)))
    return "\n".join([f"side by side, interleaved: {result.get('order')}", "", table(rows, header), "",
                      "result: " + ("PASS" if result.get("passed") else "FAIL")])
