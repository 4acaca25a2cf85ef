"""The gateway in one process: template.yaml's tables and queues in moto's backend, the functions'
own handlers (their app.py, loaded as Lambda loads them), one container whose AWS clients are the
direct ones of ``aws.py``, whose provider and webhook endpoints are the seeded models of
``models.py``, and whose randomness and clock are the simulation's."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from paygate_sim import aws

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("ApiFunction", "RelayFunction", "ProcessorFunction", "CallbacksFunction", "ReconcileFunction",
             "DeadLetterFunction", "WebhooksFunction", "WebhookDeadLetterFunction")


class SeededSecrets:
    """What ``secrets`` gives the core (``choice``, ``randbelow``, ``token_*``), from the seed."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def choice(self, seq: Any) -> Any:
        return seq[self.rng.randrange(len(seq))]

    def randbelow(self, n: int) -> int:
        return self.rng.randrange(n)

    def token_bytes(self, n: int = 32) -> bytes:
        return bytes(self.rng.randrange(256) for _ in range(n))

    def token_urlsafe(self, n: int = 32) -> str:
        import base64

        return base64.urlsafe_b64encode(self.token_bytes(n)).rstrip(b"=").decode()

    def token_hex(self, n: int = 32) -> str:
        return self.token_bytes(n).hex()


class InlineExecutor:
    """``ThreadPoolExecutor``'s ``map`` in the calling thread."""

    def __init__(self, *args: Any, **kwargs: Any):
        pass

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def map(self, fn: Callable[..., Any], *iterables: Any) -> Any:
        return [fn(*args) for args in zip(*iterables, strict=False)]


def base_environment() -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": aws.REGION,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled", "POWERTOOLS_LOG_LEVEL": "CRITICAL",
            "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_DEV": "false"}


class World:
    """Provisioned once per run (inside ``mock_aws`` and ``moto_patches.patched()``)."""

    def __init__(self, seed: int, hook: aws.Hook):
        from moto.moto_api._internal import mock_random

        from paygate_local.backends.provision import ensure_queue, ensure_table
        from paygate_local.template import Stack as TemplateStack

        mock_random.seed(seed)  # moto's message ids and receipt handles
        random.seed(seed)
        self.rng = random.Random(seed)
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            os.environ.pop(name, None)
        os.environ.update(base_environment())
        import boto3

        self.spec = TemplateStack.from_file(ROOT / "template.yaml", parameter_overrides={"Mode": "dev"})
        dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
        for table in self.spec.tables():
            arn = ensure_table(dynamodb, table)
            if arn:
                self.spec.set_attribute(table.logical_id, "StreamArn", arn)
        for queue in self.spec.queues():
            self.spec.set_attribute(queue.logical_id, "QueueUrl", ensure_queue(sqs, queue))
        env: dict[str, str] = {}
        for logical_id in FUNCTIONS:
            env.update(self.spec.function(logical_id).environment)
        env.pop("POWERTOOLS_SERVICE_NAME", None)
        env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        env["POWERTOOLS_LOG_LEVEL"] = "CRITICAL"
        os.environ.update({k: str(v) for k, v in env.items()})
        self.env = env
        self.direct_dynamodb = aws.dynamodb_client(hook)
        self.direct_sqs = aws.sqs_client(hook)
        self._seed_randomness()
        self.container = self._container()
        self.handlers = {logical_id: self._load(logical_id) for logical_id in FUNCTIONS}

    def _seed_randomness(self) -> None:
        import paygate.ids
        import paygate.services.merchants
        import paygate.services.webhooks.endpoints

        secrets = SeededSecrets(self.rng)
        for module in (paygate.ids, paygate.services.merchants, paygate.services.webhooks.endpoints):
            module.secrets = secrets  # type: ignore[attr-defined]
        paygate.ids._last_sorted = (0, 0)
        import paygate.services.webhooks.delivery

        # One thread runs everything, in the seed's order: a batch's deliveries are posted one by one.
        paygate.services.webhooks.delivery.ThreadPoolExecutor = InlineExecutor  # type: ignore[attr-defined,misc]

    def _container(self) -> Any:
        from paygate.container import get_container
        from paygate.settings import get_settings

        get_settings.cache_clear()
        get_container.cache_clear()
        container = get_container()
        container.__dict__["dynamodb"] = self.direct_dynamodb
        container.__dict__["sqs"] = self.direct_sqs
        return container

    def install(self, *, connectors: Any, transport: Any, guard: Any) -> None:
        self.container.__dict__["connectors"] = connectors
        self.container.__dict__["transport"] = transport
        self.container.__dict__["url_guard"] = guard

    def _load(self, logical_id: str) -> Callable[[dict[str, Any]], Any]:
        code_dir = self.spec.function(logical_id).code_dir
        if str(code_dir) not in sys.path:
            sys.path.insert(0, str(code_dir))  # as Lambda has it (the API imports its modules as it needs them)
        module_name = f"paygate_sim_handler_{logical_id}"
        spec = importlib.util.spec_from_file_location(module_name, code_dir / "app.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        return module.handler

    def queue_url(self, logical_id: str) -> str:
        return self.spec.ref(logical_id)

    def queue_arn(self, logical_id: str) -> str:
        return f"arn:aws:sqs:{aws.REGION}:{aws.ACCOUNT}:{self.queue_url(logical_id).rsplit('/', 1)[-1]}"

    def mapping(self, logical_id: str, kind: str) -> Any:
        spec = self.spec.function(logical_id)
        return (spec.sqs_mappings if kind == "sqs" else spec.stream_mappings)[0]


def context(function: str, now: float, timeout_s: float = 60.0) -> Any:
    from paygate_local.lambda_.context import LambdaContext

    return LambdaContext("00000000-0000-0000-0000-000000000000", int((now + timeout_s) * 1000),
                         f"arn:aws:lambda:{aws.REGION}:{aws.ACCOUNT}:function:{function}",
                         environ={"AWS_LAMBDA_FUNCTION_NAME": function, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
                                  "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function}",
                                  "AWS_LAMBDA_LOG_STREAM_NAME": "sim"})


def api_event(method: str, path: str, body: Any, headers: dict[str, str], request_id: str) -> dict[str, Any]:
    from paygate_local.apigateway.events import build_proxy_event

    raw = json.dumps(body).encode() if body is not None else b""
    pairs = [("Host", "127.0.0.1"), ("Content-Type", "application/json"), *headers.items()]
    return build_proxy_event(method=method, raw_path=path, query="", headers=pairs, body=raw,
                             route=SimpleNamespace(path=path), path_params={}, source_ip="127.0.0.1",
                             stage="Prod", account_id=aws.ACCOUNT, request_id=request_id)
