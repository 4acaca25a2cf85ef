"""Loaded by every Python process started with this directory on PYTHONPATH (a function worker of a
gateway launched by metered_dev.py): counts the worker's AWS calls into $PAYGATE_METER_DIR."""

import os

if os.environ.get("PAYGATE_METER_DIR"):
    try:
        from paygate_bench_meters import meter_hook

        meter_hook.install(os.environ["PAYGATE_METER_DIR"])
    except Exception as exc:  # noqa: BLE001 - a worker must start even if metering cannot
        import sys

        print(f"paygate bench: worker metering unavailable: {exc}", file=sys.stderr)
