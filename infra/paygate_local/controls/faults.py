"""The chaos API's rules: what `PUT {control_url}/faults` and `paygate dev --faults FILE` set, checked
here, and counted as the workers inject them (``lambda_/injection.py`` does the injecting).

A rule: ``{"service": "dynamodb", "operation": "TransactWriteItems", "function": "ApiFunction",
"probability": 1.0, "error": "InternalServerError", "latency_ms": 0}``, every key but ``service``
optional. ``service`` is a botocore service name (``dynamodb``, ``sqs``, ``logs``...) or ``provider``
(the calls to a payment provider); ``operation`` an API operation (``TransactWriteItems``), or for a
provider its name (``sandbox``) or ``METHOD /path`` (``POST /charges``, a prefix); ``function`` a
logical id of the template (default: every function); ``error`` an AWS error code, ``crash``,
``timeout``, and for a provider also an HTTP status (``"503"``) or ``refused``. A rule with neither
``error`` nor ``latency_ms`` would do nothing and is refused.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

PROVIDER = "provider"
SPECIAL_ERRORS = ("crash", "timeout")
PROVIDER_ERRORS = ("refused",)
KEYS = ("service", "operation", "function", "probability", "error", "latency_ms")
MAX_LATENCY_MS = 15 * 60 * 1000  # Lambda's longest timeout
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9.-]{0,62}$")
_ERROR_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9.]{0,127}$")


class RuleError(ValueError):
    """A rule is not valid; ``param`` is where (``rules[0].probability``)."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message, self.param = message, param


@dataclass(frozen=True)
class FaultRule:
    service: str
    operation: str | None = None
    function: str | None = None
    probability: float = 1.0
    error: str | None = None
    latency_ms: int = 0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_rules(data: Any, functions: set[str] | None = None) -> list[FaultRule]:
    """``{"rules": [...]}`` checked; ``functions``: the template's logical ids (an unknown one is refused)."""
    if not isinstance(data, dict) or set(data) - {"rules"}:
        raise RuleError('the body must be {"rules": [...]}', "rules")
    rules = data.get("rules")
    if not isinstance(rules, list):
        raise RuleError("rules must be a list", "rules")
    return [_rule(rule, f"rules[{i}]", functions) for i, rule in enumerate(rules)]


def _rule(data: Any, where: str, functions: set[str] | None) -> FaultRule:
    if not isinstance(data, dict):
        raise RuleError("a rule is an object", where)
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise RuleError(f"unknown key {unknown[0]!r}; a rule has {', '.join(KEYS)}", f"{where}.{unknown[0]}")
    service = data.get("service")
    if not isinstance(service, str) or not _NAME.match(service):
        raise RuleError("service is required: a botocore service name (dynamodb, sqs, logs...) or provider",
                        f"{where}.service")
    operation = _optional_text(data, "operation", where, 200)
    function = _optional_text(data, "function", where, 140)
    if function is not None and functions is not None and function not in functions:
        raise RuleError(f"no function {function!r} in the template; known: {', '.join(sorted(functions))}",
                        f"{where}.function")
    probability = data.get("probability", 1.0)
    if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 <= probability <= 1:
        raise RuleError("probability is a number from 0 to 1", f"{where}.probability")
    latency = data.get("latency_ms", 0)
    if isinstance(latency, bool) or not isinstance(latency, (int, float)) or not 0 <= latency <= MAX_LATENCY_MS:
        raise RuleError(f"latency_ms is a number of milliseconds from 0 to {MAX_LATENCY_MS}", f"{where}.latency_ms")
    error = data.get("error")
    if isinstance(error, int) and not isinstance(error, bool):
        error = str(error)
    if error is not None:
        error = _error(error, service, f"{where}.error")
    if error is None and not latency:
        raise RuleError("a rule needs an error, a latency_ms, or both", where)
    return FaultRule(service, operation, function, float(probability), error, int(latency))


def _optional_text(data: dict, key: str, where: str, limit: int) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise RuleError(f"{key} is a non-empty string of at most {limit} characters", f"{where}.{key}")
    return value


def _error(error: Any, service: str, where: str) -> str:
    if not isinstance(error, str) or not error:
        raise RuleError("error is an AWS error code, crash or timeout", where)
    if error in SPECIAL_ERRORS:
        return error
    if service == PROVIDER:
        if error in PROVIDER_ERRORS or (error.isdigit() and 400 <= int(error) <= 599):
            return error
        raise RuleError("a provider's error is an HTTP status from 400 to 599, refused, crash or timeout", where)
    if not _ERROR_CODE.match(error):
        raise RuleError("error is an AWS error code (InternalServerError, ThrottlingException...), crash or "
                        "timeout", where)
    return error


def load_file(path: Path, functions: set[str] | None = None) -> list[FaultRule]:
    """``paygate dev --faults FILE``: the PUT's JSON, or the same as YAML."""
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise RuleError(f"{path} is not JSON or YAML: {exc}", "rules") from None
    return parse_rules(data, functions)


class Faults:
    """The rules in force and how often each was injected. Thread-safe: the control server sets them,
    every invocation reads them (``for_function``), the workers' reports count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._injected: list[int] = []
        self._generation = 0  # a report about a rule set that was since replaced is not counted
        self._by_function: dict[str | None, list[dict]] = {}

    def set(self, rules: list[FaultRule]) -> None:
        with self._lock:
            self._generation += 1
            self._rules, self._injected = list(rules), [0] * len(rules)
            self._by_function = {}

    def clear(self) -> None:
        self.set([])

    def listing(self) -> dict[str, Any]:
        with self._lock:
            return {"rules": [rule.as_json() | {"injected": count}
                              for rule, count in zip(self._rules, self._injected, strict=True)]}

    def for_function(self, logical_id: str) -> tuple[list[dict] | None, Callable[[int], None] | None]:
        """The rules an invocation of ``logical_id`` carries to its worker (None: none), and what counts them."""
        rules = self._rules
        if not rules:
            return None, None
        with self._lock:
            generation = self._generation
            mine = self._by_function.get(logical_id)
            if mine is None:
                mine = self._by_function[logical_id] = [
                    {"id": i, "service": r.service, "operation": r.operation, "probability": r.probability,
                     "error": r.error, "latency_ms": r.latency_ms}
                    for i, r in enumerate(self._rules) if r.function in (None, logical_id)]
        if not mine:
            return None, None
        return mine, lambda rule_id: self._count(generation, rule_id)

    def _count(self, generation: int, rule_id: int) -> None:
        with self._lock:
            if generation == self._generation and 0 <= rule_id < len(self._injected):
                self._injected[rule_id] += 1
