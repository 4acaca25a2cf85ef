"""``<state-dir>/dev.json`` and ``<state-dir>/ministack.json`` as typed models: where a running gateway is.

``paygate dev`` writes dev.json (``DevInfo``) once everything is ready and removes it when it stops;
``paygate ministack deploy`` writes ministack.json (``DeployInfo``), dev.json's fields and the deployed
stack's. Whoever reaches the gateway (the CLI's commands, the tests, the tools) reads them here, and a
file that is missing or not what its model says is one clear ``DevFileError``.

A field is one line in its class. A field the class does not know (a file of a newer or older paygate)
is kept in ``extra`` and written back as it was, so reading never fails on it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

from paygate_local.foreground import write_json_atomically

DEV_FILE = "dev.json"
DEPLOY_FILE = "ministack.json"


class DevFileError(Exception):
    """The file is missing or malformed; the message names it and says what is wrong."""

    def __init__(self, path: Path | str, why: str) -> None:
        super().__init__(f"{path} {why}")
        self.path = path


class DevFileMissing(DevFileError):
    """There is no such file (no gateway is running from that state directory)."""


@dataclass(frozen=True, kw_only=True)
class GatewayInfo:
    """What dev.json and ministack.json both say: the gateway's API, a merchant's key, its AWS backend."""

    FILE: ClassVar[str]

    api_url: str
    api_key: str  # the sandbox merchant's
    merchant_id: str
    aws_endpoint_url: str
    provider_url: str  # the sandbox provider
    providers: dict[str, str] = field(default_factory=dict)  # every provider's URL by id (sandbox, sandbox-b)
    backend: str = "moto"  # moto, localstack, an endpoint URL, or ministack
    parameters: dict[str, str] = field(default_factory=dict)  # the template's overrides, secrets left out
    region: str = "us-east-1"
    merchants_table: str
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # the fields this paygate does not know

    @classmethod
    def from_json(cls, data: Any, source: Path | str = "the data") -> Self:
        if not isinstance(data, dict):
            raise DevFileError(source, f"is not a JSON object but {type(data).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls) if f.name != "extra"}
        missing = [name for name, f in known.items() if name not in data
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise DevFileError(source, f"has no {', '.join(missing)}")
        hints = _hints(cls)
        for name in known.keys() & data.keys():
            if not _conforms(data[name], hints[name]):
                raise DevFileError(source, f"has {name} = {data[name]!r}, not {_describe(hints[name])}")
        return cls(**{name: data[name] for name in known.keys() & data.keys()},
                   extra={name: value for name, value in data.items() if name not in known})

    def as_json(self) -> dict[str, Any]:
        """The file's content: every field, then the unknown ones as they were read."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"} | self.extra

    @classmethod
    def read(cls, path: Path) -> Self:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DevFileMissing(path, "not found") from None
        except OSError as exc:
            raise DevFileError(path, f"cannot be read: {exc.strerror or exc}") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise DevFileError(path, f"is not JSON: {exc}") from None
        return cls.from_json(data, path)

    def write(self, path: Path) -> None:
        """All at once (a reader sees the whole file or none)."""
        write_json_atomically(path, self.as_json())


@dataclass(frozen=True, kw_only=True)
class DevInfo(GatewayInfo):
    """dev.json: the gateway a `paygate dev` runs, there while it runs."""

    FILE: ClassVar[str] = DEV_FILE

    logs_dir: str  # the functions' JSON-line logs
    state_file: str  # state.db, what a restart carries on from
    pid: int  # the `paygate dev` process
    control_url: str | None = None  # the chaos API: {control_url}/faults
    debug: dict[str, int] = field(default_factory=dict)  # function under debugpy -> its port on 127.0.0.1


@dataclass(frozen=True, kw_only=True)
class DeployInfo(GatewayInfo):
    """ministack.json: the gateway `paygate ministack deploy` deployed into MiniStack."""

    FILE: ClassVar[str] = DEPLOY_FILE

    stack_name: str
    rest_api_id: str
    functions: dict[str, str] = field(default_factory=dict)  # logical id -> function name
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    ministack_log: str | None = None
    deploy_seconds: float | None = None


def dev_file(state_dir: Path | str) -> Path:
    return Path(state_dir) / DEV_FILE


def read_dev(state_dir: Path | str) -> DevInfo:
    """The dev.json of the `paygate dev` running from ``state_dir``."""
    return DevInfo.read(dev_file(state_dir))


def read_gateway(state_dir: Path | str) -> GatewayInfo:
    """The state directory's dev.json, else its ministack.json."""
    for model in (DevInfo, DeployInfo):
        path = Path(state_dir) / model.FILE
        if path.exists():
            return model.read(path)
    raise DevFileMissing(dev_file(state_dir), "not found")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _conforms(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a field's annotation (str, int, float, bool, dict[K, V], list[T], X | None)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, arg) for arg in args)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if isinstance(value, bool) and hint is not bool:  # JSON's true is no number
        return False
    if hint is float:
        return isinstance(value, (int, float))
    if origin is dict:
        return isinstance(value, dict) and all(_conforms(k, args[0]) and _conforms(v, args[1])
                                               for k, v in value.items())
    if origin is list:
        return isinstance(value, list) and all(_conforms(item, args[0]) for item in value)
    return isinstance(value, origin or hint)


def _describe(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint)
