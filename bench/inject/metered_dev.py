"""Run a tree's ``paygate dev`` with ``make bench``'s meters in it, injected from outside.

Run with that tree's own Python, from that tree, with ``paygate dev``'s arguments:

    <tree>/.venv/bin/python bench/inject/metered_dev.py [--all] [--meters DIR] dev [--state-dir .paygate ...]

What a tree's runtime meters by itself is told by the modules it has (``tree_metering``), not by
its version; bench adds what it lacks:

- ``native``: the runtime meters everything with ``PAYGATE_METER=1`` (its own capacity meter and
  botocore hook: main up to 0e43839 and the commits after it, until issue 19 moved them to bench/).
  Nothing is injected; ``PAYGATE_METER=1`` is set.
- ``counters``: the runtime writes its own counters (``observability/counters.py``: invocations, API
  requests, its pollers' requests) with ``PAYGATE_METER=1``, which is set; bench injects DynamoDB
  capacity on moto (``moto_capacity``, once the backend has started: ``Backend.start``) and each
  worker's AWS calls (``meter_hook``, by a ``sitecustomize`` on the workers' PYTHONPATH, with
  ``PAYGATE_METER_DIR``: ``LocalRuntime.env_for``).
- ``inject``: the runtime counts nothing (e.g. 5123448): bench injects the above, and counts the
  invocations and API requests around ``LambdaService.invoke`` and the pollers' SQS requests through a
  ``meter_hook`` on the dev process's own boto3 clients (``dev_counters``). ``--all`` does this on
  any tree (the tree's own counters left off), to try that path.

The meter modules (``--meters``, default ``bench/meters`` beside this folder) are copied into
``<state-dir>/bench-meters/paygate_bench_meters`` (the tree has its own ``bench``). A name it wraps
that the tree does not have stops it with a message (it knows both layouts: the flat one of 5123448
and issue 19's subpackages).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

METERS = Path(__file__).resolve().parents[1] / "meters"
INJECTED = ("__init__.py", "meter_hook.py", "capacity.py", "moto_capacity.py", "dev_counters.py")
PACKAGE = "paygate_bench_meters"
# Relative to the tree's paygate_local package. A tree with its own capacity meter meters everything.
NATIVE_METERS = ("capacity.py", "metering/capacity.py")
RUNTIME_COUNTERS = ("observability/counters.py",)


def tree_metering(package_dir: Path) -> str:
    """What a tree's runtime meters by itself: ``native`` (all), ``counters`` (its counters) or ``inject``."""
    if any((package_dir / name).is_file() for name in NATIVE_METERS):
        return "native"
    if any((package_dir / name).is_file() for name in RUNTIME_COUNTERS):
        return "counters"
    return "inject"


def _state_dir(dev_args: list[str]) -> Path:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--state-dir", default=".paygate")
    known, _ = parser.parse_known_args(dev_args)
    return Path(known.state_dir).resolve()


def _module(*names: str) -> ModuleType:
    """The first of ``names`` this tree has (one per layout the injector knows)."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name is None or not (name == err.name or name.startswith(err.name + ".")):
                raise  # the module exists, one of its own imports failed
    raise SystemExit(f"metered_dev: this tree has none of {', '.join(names)}: the injector does not know it")


def _attribute(module: ModuleType, *names: str) -> Any:
    for name in names:
        if hasattr(module, name):
            return getattr(module, name)
    raise SystemExit(f"metered_dev: {module.__name__} has none of {', '.join(names)}: the injector does not know it")


def install_package(meters: Path, root: Path) -> Path:
    """Copy the meter modules to ``root/paygate_bench_meters`` and the workers' sitecustomize to ``root``."""
    package = root / PACKAGE
    shutil.rmtree(package, ignore_errors=True)
    package.mkdir(parents=True)
    for name in INJECTED:
        shutil.copyfile(meters / name, package / name)
    shutil.copyfile(Path(__file__).with_name("sitecustomize.py"), root / "sitecustomize.py")
    return root


def inject(meter_dir: Path, package_root: Path, *, counters: bool) -> list[Any]:
    """Wrap the tree's runtime; the meters to flush at the end. ``counters``: count the runtime's part too."""
    sys.path.insert(0, str(package_root))
    meter_hook = importlib.import_module(f"{PACKAGE}.meter_hook")
    capacity = importlib.import_module(f"{PACKAGE}.capacity")
    moto_capacity = importlib.import_module(f"{PACKAGE}.moto_capacity")

    runtime = _module("paygate_local.runtime")
    backend_module = _module("paygate_local.backends.backend", "paygate_local.backend")
    moto_patches = _module("paygate_local.backends.moto.patches", "paygate_local.moto_patches")
    dynamodb_lock = _attribute(moto_patches, "dynamodb_lock", "_dynamodb_lock")
    # Written on the first DynamoDB request moto serves (a runtime that clears its meter directory
    # at start clears it before any): each write holds every count so far.
    capacity_meter = capacity.CapacityMeter(meter_dir)
    flushed: list[Any] = [capacity_meter]

    original_start = backend_module.Backend.start

    def start(self: Any) -> str:
        url = original_start(self)
        if self.started_here:
            moto_capacity.install(capacity_meter, lock=dynamodb_lock)
        return url

    original_env_for = runtime.LocalRuntime.env_for

    def env_for(self: Any, logical_id: str) -> dict[str, str]:
        env = original_env_for(self, logical_id)
        env[meter_hook.METER_DIR_ENV] = str(meter_dir)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_root), env.get("PYTHONPATH")) if p)
        return env

    backend_module.Backend.start = start
    runtime.LocalRuntime.env_for = env_for
    if counters:
        flushed.append(_count_the_runtime(meter_dir, meter_hook))
    return flushed


def _count_the_runtime(meter_dir: Path, meter_hook: ModuleType) -> Any:
    """Invocations and API requests around ``LambdaService.invoke``; the pollers' requests by a hook."""
    dev_counters = importlib.import_module(f"{PACKAGE}.dev_counters")
    workers = _module("paygate_local.lambda_.pool", "paygate_local.workers")
    # The dev process's own boto3 calls (the pollers', against a backend over HTTP): clients are made after this.
    hook = meter_hook.install(None, function_name="paygate-dev")
    counted = dev_counters.DevCounters(meter_dir / dev_counters.RUNTIME_FILE, hook=hook)

    original_invoke = workers.LambdaService.invoke
    specs: dict[str, tuple[str, Any]] = {}

    def invoke(self: Any, logical_id: str, event: object, *args: object, **kwargs: object) -> Any:
        result = original_invoke(self, logical_id, event, *args, **kwargs)
        if logical_id not in specs:
            spec = getattr(getattr(self, "pools", {}).get(logical_id), "spec", None)
            specs[logical_id] = (getattr(spec, "name", logical_id), getattr(spec, "memory_size", None))
        name, memory = specs[logical_id]
        records = len(event.get("Records") or []) if isinstance(event, dict) else 0
        counted.invoked(logical_id, duration_ms=result.duration_ms, name=name, memory_mb=memory,
                        records=records, error=not result.ok)
        if isinstance(event, dict) and "httpMethod" in event:  # what the API front invoked
            counted.api_request()
        return result

    workers.LambdaService.invoke = invoke
    counted.flush()
    return counted


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=Path, default=METERS, help="the meter modules (default: bench/meters)")
    parser.add_argument("--all", action="store_true",
                        help="inject every meter, the runtime's counters too, whatever the tree meters itself")
    args, dev_args = parser.parse_known_args(argv)
    state_dir = _state_dir(dev_args)
    import paygate_local

    metering = "inject" if args.all else tree_metering(Path(paygate_local.__file__).resolve().parent)
    if metering == "inject":
        os.environ.pop("PAYGATE_METER", None)  # one writer of runtime.json: bench's
    else:
        os.environ["PAYGATE_METER"] = "1"
    flushed = [] if metering == "native" else inject(
        state_dir / "meter", install_package(args.meters, state_dir / "bench-meters"), counters=metering == "inject")
    print(f"metered_dev: {metering}", file=sys.stderr, flush=True)
    cli = _module("paygate_local.cli")
    try:
        return cli.main(dev_args)
    finally:
        for meter in flushed:
            meter.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
