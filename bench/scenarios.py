"""The bench's run against one gateway: warm up, one payment at a time, at load, idle; metered throughout."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import metering, pricing
from .client import Client, Scenario
from .system import Gateway, idle_cpu_percent


@dataclass
class Options:
    payments: int = 200
    concurrency: int = 8
    sequential: int = 30
    idle_seconds: float = 20.0
    timeout: float = 120.0
    warmup: int = 2
    token: str = "tok_success"


class Run:
    """The scenarios against one gateway, one step at a time (so that compare.py can interleave two)."""

    def __init__(self, label: str, api_url: str, api_key: str, meter_dir: Path | None, logs_dir: Path | None,
                 options: Options, gateway: Gateway | None = None):
        self.label = label
        self.client = Client(api_url, api_key, token=options.token)
        self.meter_dir = meter_dir
        self.logs_dir = logs_dir
        self.options = options
        self.gateway = gateway
        self.results: dict[str, Any] = {}
        self.passed = True
        self._snapshot: dict[str, Any] | None = None
        self._logs = 0
        self._webhook_bytes = 0
        self._usages: dict[str, metering.Usage] = {}

    def read(self) -> dict[str, Any]:
        return metering.read_meter_dir(self.meter_dir) if self.meter_dir else metering.empty_snapshot()

    def open(self) -> None:
        self.client.__enter__()

    def close(self) -> None:
        self.client.__exit__(None, None, None)

    def warm_up(self) -> None:
        """A few payments first, not measured: every function has run once, its clients are made."""
        if self.options.warmup:
            self._check(self.client.run_sequential(self.options.warmup, self.options.timeout))
        self._mark()

    def _mark(self) -> None:
        self._snapshot, settled = metering.settle(self.read)
        if not settled:
            self.results.setdefault("notes", []).append("the meter counters were still moving after 20 s")
        self._logs = metering.log_bytes(self.logs_dir)
        self._webhook_bytes = self.client.webhook_bytes

    def sequential(self) -> None:
        self._measure("sequential", self.client.run_sequential(self.options.sequential, self.options.timeout))

    def load(self) -> None:
        self._measure("load", self.client.run_load(self.options.payments, self.options.concurrency,
                                                   self.options.timeout), reference=self._usages.get("sequential"))

    def idle(self) -> None:
        if self.gateway is None or self.options.idle_seconds <= 0:
            return
        before, started = self.read(), time.monotonic()
        cpu = idle_cpu_percent(self.gateway, self.options.idle_seconds)
        delta = metering.diff(self.read(), before)
        elapsed = time.monotonic() - started
        sources = ((delta.get("runtime") or {}).get("event_sources") or {}).get("sqs") or {}
        requests = sum(q.get("requests", 0) for q in sources.values())
        self.results["idle"] = {"seconds": self.options.idle_seconds, "cpu_percent": cpu,
                                "poller_sqs_requests_per_s": round(requests / elapsed, 2) if delta.get("runtime") else None}

    def _check(self, scenario: Scenario) -> dict[str, Any]:
        figures = scenario.figures()
        failed = (figures["webhooks_missing"] or figures["post_errors"]
                  or self.client.receiver.signature_failures)
        if failed:
            self.passed = False
        return figures

    def _measure(self, name: str, scenario: Scenario, reference: metering.Usage | None = None) -> None:
        figures = self._check(scenario)
        before, logs_before, webhooks_before = self._snapshot or self.read(), self._logs, self._webhook_bytes
        self._mark()
        delta = metering.diff(self._snapshot, before)
        transfer = (scenario.response_bytes + self.client.webhook_bytes - webhooks_before)
        usage = metering.usage(delta, scenario.accepted, log_bytes_delta=self._logs - logs_before,
                               transfer_out_bytes=transfer)
        if reference is not None:
            usage.gb_seconds_priced = metering.scaled_gb_seconds(reference, usage)
        self._usages[name] = usage
        lines = pricing.cost_lines(usage.quantities())
        figures["usage"] = {**asdict(usage), "total_calls": usage.total_calls,
                            "total_invocations": usage.total_invocations}
        figures["cost_per_million"] = {"total": round(pricing.total(lines), 2) if usage.runtime_metered else None,
                                       "lines": [asdict(line) for line in lines]}
        self.results[name] = figures

    def summary(self) -> dict[str, Any]:
        return {"label": self.label, **self.results, "signature_failures": self.client.receiver.signature_failures,
                "passed": self.passed}
