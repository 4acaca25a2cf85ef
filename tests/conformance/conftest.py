"""The conformance suite: documented AWS behaviours of Lambda, its event source mappings and API Gateway's
proxy integration, each observed by sending real events through a backend (tests/conformance/stack/).

PAYGATE_CONFORMANCE_BACKEND picks where the stack runs:

- ``moto`` (default, `make test`, `make conformance`): the local runtime (`paygate dev`'s) on moto, in
  this process; AWS's long timeouts shrunk through the template's parameters, and API Gateway's 29 s
  integration timeout through the runtime's own setting (``INTEGRATION_TIMEOUT``).
- ``localstack`` (`make conformance-localstack`): the same runtime, its AWS backend LocalStack on the host.
- ``ministack`` (`make conformance-ministack`): the stack deployed into MiniStack with `sam build` and
  `sam deploy`; MiniStack runs the functions, the mappings and API Gateway itself, with AWS's timeouts.

A behaviour a backend does not have is marked for it (``differs(ministack="why")``): expected to fail
there, strictly (a pass would say the note is stale), never skipped. With PAYGATE_CONFORMANCE_RESULTS set,
each test's outcome goes to that JSON file (``python -m tests.conformance.table`` makes the docs' table).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from harness import BACKEND, deploy


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("differs")
        if marker is not None and BACKEND in marker.kwargs:
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"{BACKEND}: {marker.kwargs[BACKEND]}"))


_results: dict[str, dict[str, str]] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any):
    outcome = yield
    report = outcome.get_result()
    if "conformance" not in str(item.fspath) or (report.when != "call" and not report.failed):
        return
    marker = item.get_closest_marker("differs")
    entry = {"outcome": "xfail" if hasattr(report, "wasxfail") else report.outcome,
             "doc": (item.obj.__doc__ or "").strip().split("\n")[0],
             "module": item.module.__name__.rsplit(".", 1)[-1]}
    if marker is not None and BACKEND in marker.kwargs:
        entry["reason"] = marker.kwargs[BACKEND]
    _results[item.name] = entry


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("PAYGATE_CONFORMANCE_RESULTS")
    if path and _results:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps({"backend": BACKEND, "tests": _results}, indent=1, sort_keys=True) + "\n")


_running: list[Any] = []  # the stack, while it runs


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory):
    where = tmp_path_factory.mktemp(f"conformance-{BACKEND}")
    deployed = deploy(where)
    _running.append(deployed)
    try:
        yield deployed
    finally:
        _stop()


def _stop() -> None:
    while _running:
        _running.pop().stop()


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """The stack stops after the suite's last test, not at the session's end: under `make test` the tests
    after it must not run beside its runtime (its moto patches, its workers)."""
    if nextitem is None or "conformance" not in str(nextitem.fspath):
        _stop()


