"""Loaded by every Python process started with this directory on PYTHONPATH (a function worker of a
gateway launched by metered_dev.py): counts the worker's AWS calls into $PAYGATE_METER_DIR, then takes
this directory off sys.path again, so that the function sees the sys.path it would have unmetered."""

import os
import sys

if os.environ.get("PAYGATE_METER_DIR"):
    try:
        from paygate_bench_meters import meter_hook

        meter_hook.install(os.environ["PAYGATE_METER_DIR"])
    except Exception as exc:  # noqa: BLE001 - a worker must start even if metering cannot
        print(f"paygate bench: worker metering unavailable: {exc}", file=sys.stderr)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
