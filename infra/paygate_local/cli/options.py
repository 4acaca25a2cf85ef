"""What several commands share: the state directory and template options, and finding the running gateway."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer

from paygate_local import devfile

DEFAULT_STATE_DIR = ".paygate"

StateDir = Annotated[str, typer.Option(help="the state directory of the `paygate dev` to use (its dev.json)")]
Template = Annotated[Optional[str], typer.Option(help="the SAM template (default: ./template.yaml)")]


def repo_root() -> Path:
    """Where template.yaml lives: the working directory if it has one, else this checkout."""
    here = Path.cwd()
    if (here / "template.yaml").exists():
        return here
    return Path(__file__).resolve().parents[3]


def template_path(template: str | Path | None) -> Path:
    """``--template``, else the repository's template.yaml."""
    return Path(template).resolve() if template else repo_root() / "template.yaml"


def pairs(values: list[str] | None, option: str) -> list[tuple[str, str]]:
    """Repeatable ``Name=Value`` options, in their order."""
    found = []
    for text in values or []:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected Name=Value, got {text!r}", param_hint=option)
        found.append((key, value))
    return found


def require_dev(state_dir: str) -> devfile.DevInfo:
    """The dev.json of the `paygate dev` running from ``state_dir``; without one, says why and exits 2."""
    try:
        return devfile.read_dev(state_dir)
    except devfile.DevFileMissing as exc:
        fail(f"{exc.path} not found: start `paygate dev --state-dir {state_dir}` first")
    except devfile.DevFileError as exc:
        fail(f"{exc}; start `paygate dev --state-dir {state_dir}` again")


def fail(message: str, command: str = "paygate", status: int = 2) -> NoReturn:
    """``command: message`` on stderr, and the exit status."""
    print(f"{command}: {message}", file=sys.stderr)
    raise typer.Exit(status)
