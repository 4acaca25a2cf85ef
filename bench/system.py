"""Gateways as processes: start a tree's ``paygate dev``, pause and resume it, its CPU; cold imports.

A gateway is started from its own tree with its own venv (``<tree>/.venv/bin/python``), so two trees
can be compared in one run. Metering (``--meter``): ``native`` sets ``PAYGATE_METER=1``, and the
tree's runtime meters what it meters itself; ``inject`` runs ``bench/inject/metered_dev.py`` with
the tree's Python, which adds bench's meters (``bench/meters/``) for what the tree does not meter
itself (this tree: its runtime writes its own counters, bench adds DynamoDB capacity and the
workers' AWS calls; 5123448: bench counts everything); ``inject-all`` injects every meter, the
runtime's counters too; ``off`` meters nothing. ``auto`` chooses by the modules the tree has
(``metered_dev.tree_metering``): ``native`` for a tree that meters everything itself (0e43839),
``inject`` for any other; and ``inject-all`` when no ``meter/runtime.json`` appears.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from .inject.metered_dev import tree_metering

BENCH_DIR = Path(__file__).resolve().parent
THIS_TREE = BENCH_DIR.parent
METER_MODES = ("auto", "native", "inject", "inject-all", "off")
BASELINE_IMPORT = "import boto3; from aws_lambda_powertools import Logger"


class GatewayError(Exception):
    """A gateway could not be started (the bench exits 2)."""


def tree_python(tree: Path) -> Path:
    python = tree / ".venv" / "bin" / "python"
    if not python.exists():
        raise GatewayError(f"{python} not found: run `make setup` in {tree}")
    return python


class Gateway:
    """One ``paygate dev`` of ``tree`` on a free port, its state in ``state_dir``."""

    def __init__(self, tree: Path, state_dir: Path, *, meter: str = "auto", label: str | None = None,
                 ready_timeout: float = 120.0):
        self.tree = tree.resolve()
        self.state_dir = state_dir.resolve()
        self.meter_mode = meter
        self.label = label or self.tree.name
        self.ready_timeout = ready_timeout
        self.python = tree_python(self.tree)
        self.process: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self.metering = "off"  # how it is metered once started: native | inject | inject-all | off
        self.paused = False

    @property
    def meter_dir(self) -> Path:
        return self.state_dir / "meter"

    @property
    def logs_dir(self) -> Path:
        return Path(self.info.get("logs_dir") or self.state_dir / "logs")

    def start(self) -> "Gateway":
        if self.meter_mode not in METER_MODES:
            raise GatewayError(f"unknown meter mode {self.meter_mode!r}")
        tried = [self.meter_mode]
        if self.meter_mode == "auto":
            own = tree_metering(self.tree / "infra" / "paygate_local")
            tried = ["native" if own == "native" else "inject"] + (["inject-all"] if own != "inject" else [])
        for mode in tried:
            self._launch(mode)
            if mode == "off" or self._wait_for_meter():
                self.metering = mode
                return self
            self.stop()
        print(f"bench: {self.label}: --meter {self.meter_mode} wrote no meter/runtime.json; meter figures n/a",
              file=sys.stderr)
        self._launch("off")
        return self

    def _launch(self, mode: str) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        dev_file = self.state_dir / "dev.json"
        dev_file.unlink(missing_ok=True)
        shutil.rmtree(self.meter_dir, ignore_errors=True)  # nothing left from an earlier attempt
        dev_args = ["dev", "--port", "0", "--state-dir", str(self.state_dir),
                    "--template", str(self.tree / "template.yaml")]
        env = {k: v for k, v in os.environ.items() if k not in ("PAYGATE_METER", "PAYGATE_METER_DIR")}
        if mode in ("inject", "inject-all"):  # metered_dev sets PAYGATE_METER itself, as the tree needs
            command = [str(self.python), str(BENCH_DIR / "inject" / "metered_dev.py"),
                       *(["--all"] if mode == "inject-all" else []), *dev_args]
        else:
            command = [str(self.python), "-m", "paygate_local.cli", *dev_args]
            if mode == "native":
                env["PAYGATE_METER"] = "1"
        out = (self.state_dir / "paygate-dev.out").open("ab")
        self.process = subprocess.Popen(command, cwd=self.tree, env=env, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise GatewayError(f"{self.label}: paygate dev exited with {self.process.returncode}:\n"
                                   f"{self.output()}")
            if dev_file.exists():
                try:
                    self.info = json.loads(dev_file.read_text())
                    return
                except ValueError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise GatewayError(f"{self.label}: paygate dev was not ready in {self.ready_timeout:.0f} s:\n{self.output()}")

    def _wait_for_meter(self, timeout: float = 3.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.meter_dir / "runtime.json").exists():
                return True
            time.sleep(0.05)
        return False

    def output(self) -> str:
        try:
            return (self.state_dir / "paygate-dev.out").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    # ------------------------------------------------------------------ the process tree

    def processes(self) -> list[psutil.Process]:
        """The gateway process and all its descendants (workers, their children), alive now."""
        if self.process is None or self.process.poll() is not None:
            return []
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the whole process tree so far, reaped children included."""
        total = 0.0
        for index, proc in enumerate(self.processes()):
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
            if index == 0:
                total += times.children_user + times.children_system
        return total

    def pause(self, timeout: float = 5.0) -> None:
        """Freeze the whole tree (SIGSTOP), so that it takes no CPU while the other gateway is measured.
        Until every process of the tree is seen stopped: a worker forked while the tree was being
        stopped (a template forks at the runtime's request) is found on the next look and stopped too."""
        deadline = time.monotonic() + timeout
        while True:
            running = []
            for proc in self.processes():
                try:
                    if proc.status() != psutil.STATUS_STOPPED:
                        running.append(proc)
                except psutil.NoSuchProcess:
                    pass
            if not running or time.monotonic() > deadline:
                break
            for proc in reversed(running):
                try:
                    proc.send_signal(signal.SIGSTOP)
                except psutil.NoSuchProcess:
                    pass
            time.sleep(0.01)  # SIGSTOP takes effect asynchronously: look again
        self.paused = True

    def resume(self) -> None:
        for proc in self.processes():
            try:
                proc.send_signal(signal.SIGCONT)
            except psutil.NoSuchProcess:
                pass
        self.paused = False

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (paygate dev stops its workers and pollers), then SIGKILL after ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return
        if self.paused:
            self.resume()
        root = psutil.Process(self.process.pid)
        root.terminate()
        _, alive = psutil.wait_procs([root], timeout=timeout)
        for proc in alive:
            proc.kill()
        self.process.wait(5)

    def __enter__(self) -> "Gateway":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def idle_cpu_percent(gateway: Gateway, seconds: float) -> float:
    """The tree's CPU use over ``seconds`` of idleness, in % of one core."""
    before, started = gateway.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    return round(100 * (gateway.cpu_seconds() - before) / (time.monotonic() - started), 2)


# ------------------------------------------------------------------------------------------------------
# Cold imports

PROBE = """
import json, sys, time
paths, statement = json.loads(sys.argv[1]), sys.argv[2]
sys.path[:0] = [p for p in paths if p not in sys.path]
started = time.perf_counter()
exec(statement)
print(json.dumps(time.perf_counter() - started))
"""

DESCRIBE = """
import json, sys
from paygate_local.template import Stack
stack = Stack.from_file(sys.argv[1], parameter_overrides={"Mode": "dev"})
print(json.dumps([{"logical_id": f.logical_id, "name": f.name, "handler": f.handler,
                   "code_dir": str(f.code_dir), "paths": [str(p) for p in f.python_paths],
                   "environment": f.environment, "memory_mb": f.memory_size} for f in stack.functions()]))
"""


@dataclass
class ImportTarget:
    label: str
    python: str
    statement: str
    paths: list[str]
    env: dict[str, str]
    cwd: str


def describe_functions(tree: Path) -> list[dict[str, Any]]:
    """The tree's functions as its own template parser sees them (run with the tree's Python)."""
    done = subprocess.run([str(tree_python(tree)), "-c", DESCRIBE, str(tree / "template.yaml")], cwd=tree,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise GatewayError(f"cannot read {tree}/template.yaml: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def import_targets(tree: Path, interpreters: dict[str, dict[str, Any]] | None = None) -> list[ImportTarget]:
    """One target per function: its handler module, its environment, on the interpreter its workers use.

    ``interpreters`` (function name -> python, sys_path), from the workers' meter files, says which
    interpreter and path the workers really had; without it, the tree's venv Python and the template's
    code and layer directories are used (what 5123448's workers run).
    """
    functions = describe_functions(tree)
    targets = []
    for spec in functions:
        seen = (interpreters or {}).get(spec["name"]) or {}
        env = {k: os.environ[k] for k in ("PATH", "TMPDIR") if k in os.environ}
        env.update(spec["environment"])
        env.update({"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test",
                    "AWS_SECRET_ACCESS_KEY": "test", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
                    "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                    "AWS_EC2_METADATA_DISABLED": "true", "AWS_LAMBDA_FUNCTION_NAME": spec["name"],
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec["memory_mb"]), "LAMBDA_TASK_ROOT": spec["code_dir"],
                    "LANG": "C.UTF-8", "TZ": ":UTC"})
        module = spec["handler"].rpartition(".")[0].replace("/", ".")
        targets.append(ImportTarget(spec["logical_id"], seen.get("python") or str(tree_python(tree)),
                                    f"import {module}", seen.get("sys_path") or spec["paths"], env,
                                    spec["code_dir"]))
    if targets:
        first = targets[0]
        targets.insert(0, ImportTarget("baseline", first.python, BASELINE_IMPORT, first.paths, first.env, first.cwd))
    return targets


def probe_import(target: ImportTarget) -> float:
    done = subprocess.run([target.python, "-c", PROBE, json.dumps(target.paths), target.statement],
                          cwd=target.cwd, env=target.env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise GatewayError(f"importing {target.label} failed: {done.stderr[-1500:]}")
    return float(done.stdout.strip().splitlines()[-1])


def cold_imports(targets: list[ImportTarget], runs: int) -> dict[str, Any]:
    """Median import time of each target over ``runs`` fresh processes (round-robin, to share the noise),
    and each handler's ratio to the baseline statement."""
    samples: dict[str, list[float]] = {t.label: [] for t in targets}
    for _ in range(runs):
        for target in targets:
            samples[target.label].append(probe_import(target))
    return summarize_imports(targets, samples, runs)


def summarize_imports(targets: list[ImportTarget], samples: dict[str, list[float]], runs: int) -> dict[str, Any]:
    medians = {label: statistics.median(values) for label, values in samples.items() if values}
    base = medians.get("baseline")
    return {
        "runs": runs,
        "baseline_statement": BASELINE_IMPORT,
        "python": next((t.python for t in targets if t.label == "baseline"), None),
        "median_ms": {label: round(value * 1000, 1) for label, value in medians.items()},
        "ratio": {label: round(value / base, 2) for label, value in medians.items() if base and label != "baseline"},
    }
