"""The Python each function runs on: the interpreter its ``Runtime`` names, in an environment of
its own that holds what Lambda would give it.

On Lambda a ``python3.12`` function runs on Python 3.12 with its code, its layers and the runtime's
boto3 on ``sys.path``, nothing else. Locally the same comes from ``.venv/lambda/python3.12``: a
venv made with a Python 3.12 found on this machine, holding the layer's requirements
(``layers/core/requirements.txt``) and boto3/botocore, every version pinned by
``requirements.lock``. ``make setup`` creates it (``python -m paygate_local.lambda_.interpreters``),
and beside it ``.venv/lambda/python3.12-debugpy``, debugpy alone, which only a worker under
``paygate dev --debug`` puts on its sys.path.

When the interpreter is not installed (or the environment was not made), the functions run on
the dev venv's own Python instead, and the runtime says so once at start.

``PAYGATE_LAMBDA_ENVS`` moves the environments' parent directory (default ``<repo>/.venv/lambda``).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
LAYER_REQUIREMENTS = REPO / "layers" / "core" / "requirements.txt"
LOCK = REPO / "requirements.lock"
# What the Lambda Python runtime itself provides, besides the layer.
RUNTIME_PROVIDED = ("boto3", "botocore")
# For development only (`paygate dev --debug`), in a directory of its own beside the environment: a
# debugged worker adds it to its sys.path, no other sees it (Lambda has no debugpy).
DEBUGGER = "debugpy"
log = logging.getLogger("paygate_local")

_RUNTIME = re.compile(r"^python(\d+)\.(\d+)$")


def envs_dir() -> Path:
    return Path(os.environ.get("PAYGATE_LAMBDA_ENVS") or REPO / ".venv" / "lambda")


def env_python(runtime: str, base: Path | None = None) -> Path:
    return (base or envs_dir()) / runtime / "bin" / "python"


def debugger_dir(runtime: str | None, base: Path | None = None) -> Path | None:
    """Where debugpy is for the functions of ``runtime`` (``<envs>/<runtime>-debugpy``), if made."""
    if not runtime:
        return None
    path = (base or envs_dir()) / f"{runtime}-{DEBUGGER}"
    return path if (path / DEBUGGER).is_dir() else None


@dataclass(frozen=True)
class Interpreter:
    """What a function of ``runtime`` runs on; ``note`` says why, when it is not that runtime."""

    runtime: str | None
    python: str
    note: str | None = None


def select(runtime: str | None, base: Path | None = None) -> Interpreter:
    """The runtime's environment when it exists, else this (the dev venv's) interpreter, with a note."""
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if not runtime or not _RUNTIME.match(runtime):
        return Interpreter(runtime, sys.executable,
                           None if not runtime else f"Runtime {runtime} is not a Python runtime "
                           f"paygate dev knows; its functions run on Python {here}")
    python = env_python(runtime, base)
    if python.exists():
        return Interpreter(runtime, str(python))
    found = find_interpreter(runtime)
    why = ("its environment is not made yet (make setup)" if found
           else f"no {runtime} interpreter is installed")
    return Interpreter(runtime, sys.executable,
                       f"functions declare Runtime {runtime}, but {why}: they run on Python {here} of "
                       f"the dev venv ({sys.executable}) instead")


def select_each(specs: Iterable[Any], base: Path | None = None) -> dict[str, Interpreter]:
    """Each function (a ``FunctionSpec``) on its Runtime's interpreter; a missing one is said once
    per runtime, in the runtime's log and on stderr."""
    chosen: dict[str, Interpreter] = {}
    said: set[str | None] = set()
    for spec in specs:
        chosen[spec.logical_id] = found = select(spec.runtime, base)
        if found.note and spec.runtime not in said:
            said.add(spec.runtime)
            log.warning("%s", found.note)
            print(f"paygate dev: note: {found.note}", file=sys.stderr, flush=True)
    return chosen


def find_interpreter(runtime: str) -> str | None:
    """A working ``pythonX.Y`` on this machine: on PATH, else pyenv's versions, else the usual places."""
    match = _RUNTIME.match(runtime)
    if not match:
        return None
    version = f"{match.group(1)}.{match.group(2)}"
    candidates = [shutil.which(f"python{version}")]
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates += sorted(glob.glob(os.path.join(pyenv_root, "versions", f"{version}.*", "bin", "python")),
                         key=_version_key, reverse=True)
    candidates += [f"/usr/local/bin/python{version}", f"/usr/bin/python{version}"]
    for candidate in candidates:
        if candidate and os.path.exists(candidate) and _reports_version(candidate, version):
            return candidate
    return None


def _version_key(path: str) -> tuple[int, ...]:
    name = Path(path).parents[1].name
    return tuple(int(p) for p in re.findall(r"\d+", name))


def _reports_version(python: str, version: str) -> bool:
    """A pyenv shim exists on PATH even when its version is not selected: ask the interpreter."""
    try:
        out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def runtimes_in(template: Path) -> list[str]:
    """Every distinct ``Runtime`` of the template's functions (Globals included)."""
    from paygate_local.template import Stack

    stack = Stack.from_file(template)
    return sorted({f.runtime for f in stack.functions() if f.runtime and _RUNTIME.match(f.runtime)})


def _fingerprint(python: str) -> str:
    digest = hashlib.sha256(python.encode())
    for path in (LAYER_REQUIREMENTS, LOCK):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_env(runtime: str, base: Path | None = None) -> str:
    """Make (or bring up to date) the environment of ``runtime``; returns what was done."""
    python = find_interpreter(runtime)
    if python is None:
        return (f"{runtime}: no interpreter found (PATH, pyenv); functions will run on the dev venv's "
                f"Python {sys.version_info.major}.{sys.version_info.minor}")
    target = (base or envs_dir()) / runtime
    stamp = target / ".paygate-installed"
    wanted = _fingerprint(python)
    if stamp.exists() and stamp.read_text() == wanted and env_python(runtime, base).exists() \
            and debugger_dir(runtime, base) is not None:
        return f"{runtime}: {target} is up to date"
    subprocess.run([python, "-m", "venv", "--clear", str(target)], check=True)
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-c", str(LOCK), "-r", str(LAYER_REQUIREMENTS), *RUNTIME_PROVIDED], check=True)
    debug_dir = target.parent / f"{runtime}-{DEBUGGER}"
    shutil.rmtree(debug_dir, ignore_errors=True)
    subprocess.run([*pip, "-c", str(LOCK), "--target", str(debug_dir), DEBUGGER], check=True)
    stamp.write_text(wanted)
    return f"{runtime}: made {target} with {python}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paygate_local.lambda_.interpreters",
                                     description="make the functions' Python environments (.venv/lambda)")
    parser.add_argument("--template", default=str(REPO / "template.yaml"))
    parser.add_argument("runtimes", nargs="*", help="e.g. python3.12 (default: every Runtime in the template)")
    args = parser.parse_args(argv)
    for runtime in args.runtimes or runtimes_in(Path(args.template)):
        print(f"lambda env {ensure_env(runtime)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
