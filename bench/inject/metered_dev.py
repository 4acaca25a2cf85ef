"""Run an unmodified tree's ``paygate dev`` with the meters injected from outside.

For a tree whose runtime does not meter itself (``PAYGATE_METER=1`` does nothing there, e.g. the
baseline 5123448): run with that tree's own Python, from that tree, with ``paygate dev``'s arguments:

    <tree>/.venv/bin/python <this file> --meters <dir with meter_hook.py, capacity.py, meter.py> dev ...

It copies the three meter modules into ``<state-dir>/meter/.pkg/paygate_bench_meters`` (the tree has
its own ``paygate_local``), then wraps what this tree's runtime does the same way the native wiring
would: capacity metering on moto once the backend has started (``Backend.start``), invocations and
API requests around ``LambdaService.invoke``, the pollers' SQS requests through a meter_hook on the
dev process's own boto3 clients, and ``PAYGATE_METER_DIR`` + a ``sitecustomize`` on PYTHONPATH for
each worker (``LocalRuntime.env_for``). Written against 5123448's runtime; it fails loudly when a
name it wraps is missing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

MODULES = ("meter_hook.py", "capacity.py", "meter.py")


def _state_dir(dev_args: list[str]) -> Path:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--state-dir", default=".paygate")
    known, _ = parser.parse_known_args(dev_args)
    return Path(known.state_dir).resolve()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", required=True, type=Path, help="directory holding the meter modules")
    args, dev_args = parser.parse_known_args(argv)
    meter_dir = _state_dir(dev_args) / "meter"
    package_root = meter_dir / ".pkg"
    package = package_root / "paygate_bench_meters"
    package.mkdir(parents=True, exist_ok=True)
    for name in MODULES:
        shutil.copyfile(args.meters / name, package / name)
    (package / "__init__.py").write_text("")
    shutil.copyfile(Path(__file__).with_name("sitecustomize.py"), package_root / "sitecustomize.py")
    sys.path.insert(0, str(package_root))

    from paygate_bench_meters import capacity, meter, meter_hook

    from paygate_local import cli, runtime
    from paygate_local.backends import backend as backend_module
    from paygate_local.backends.moto import patches as moto_patches
    from paygate_local.lambda_ import pool as workers

    # The dev process's own boto3 calls (the pollers'): clients are made after this.
    hook = meter_hook.install(None, function_name="paygate-dev")
    runtime_meter = meter.RuntimeMeter(meter_dir / meter.RUNTIME_FILE, sources={"hook": hook.snapshot})
    hook.listeners.append(runtime_meter.touch)
    capacity_meter = capacity.CapacityMeter(meter_dir)

    original_start = backend_module.Backend.start

    def start(self: backend_module.Backend) -> str:
        url = original_start(self)
        if self.started_here:
            capacity.install(capacity_meter, lock=getattr(moto_patches, "_dynamodb_lock", None))
        return url

    original_env_for = runtime.LocalRuntime.env_for

    def env_for(self: runtime.LocalRuntime, logical_id: str) -> dict[str, str]:
        env = original_env_for(self, logical_id)
        env[meter.METER_DIR_ENV] = str(meter_dir)
        env["PYTHONPATH"] = str(package_root)
        return env

    original_invoke = workers.LambdaService.invoke
    specs: dict[str, tuple[str, int]] = {}

    def invoke(self: workers.LambdaService, logical_id: str, event: object, *args: object, **kwargs: object):
        result = original_invoke(self, logical_id, event, *args, **kwargs)
        if logical_id not in specs:
            pool = getattr(self, "pools", {}).get(logical_id)
            spec = getattr(pool, "spec", None)
            specs[logical_id] = (getattr(spec, "name", logical_id), getattr(spec, "memory_size", None))
        name, memory = specs[logical_id]
        records = len(event.get("Records") or []) if isinstance(event, dict) else 0
        runtime_meter.invoked(logical_id, duration_ms=result.duration_ms, name=name, memory_mb=memory,
                              records=records, error=not result.ok)
        if isinstance(event, dict) and "httpMethod" in event:  # what the old API front invoked
            runtime_meter.api_request()
        return result

    backend_module.Backend.start = start  # type: ignore[method-assign]
    runtime.LocalRuntime.env_for = env_for  # type: ignore[method-assign]
    workers.LambdaService.invoke = invoke  # type: ignore[method-assign]
    runtime_meter.flush()
    try:
        return cli.main(dev_args)
    finally:
        runtime_meter.flush()
        capacity_meter.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
