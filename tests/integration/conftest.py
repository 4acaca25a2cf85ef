"""Handlers against moto (`mock_aws`), with tables and queues built from template.yaml itself."""

from __future__ import annotations

import importlib.util
import sys
from typing import Iterator

import boto3
import pytest
from lambda_harness import ROOT, LambdaContext, Stack, make_merchant
from moto import mock_aws


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    from paygate_local.backends.provision import ensure_queue, ensure_table
    from paygate_local.template import Stack as TemplateStack

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    # moto as paygate dev runs it: DynamoDB's conditional writes atomic, transactions all-or-nothing.
    from paygate_local.backends.moto import patches as moto_patches

    with moto_patches.patched(), mock_aws():
        spec = TemplateStack.from_file(ROOT / "template.yaml", parameter_overrides={"Mode": "dev"})
        dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
        for table in spec.tables():
            arn = ensure_table(dynamodb, table)
            if arn:
                spec.set_attribute(table.logical_id, "StreamArn", arn)
        for queue in spec.queues():
            spec.set_attribute(queue.logical_id, "QueueUrl", ensure_queue(sqs, queue))
        yield Stack(spec)
    _reset_caches()


def _reset_caches() -> None:
    from paygate.container import get_container
    from paygate.settings import get_settings

    get_settings.cache_clear()
    get_container.cache_clear()


@pytest.fixture
def handler_of(aws: Stack, monkeypatch: pytest.MonkeyPatch):
    """Import a function's app.py fresh, with exactly the environment the template gives it."""

    def load(logical_id: str, **env: str):
        for key, value in {**aws.env(logical_id), **env}.items():
            monkeypatch.setenv(key, value)
        _reset_caches()
        code_dir = aws.spec.function(logical_id).code_dir
        monkeypatch.syspath_prepend(str(code_dir))  # as Lambda has the function's code on sys.path
        module_name = f"handler_{logical_id}"
        spec = importlib.util.spec_from_file_location(module_name, code_dir / "app.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return lambda event: module.handler(event, LambdaContext())

    return load


@pytest.fixture
def merchant(aws: Stack) -> dict[str, str]:
    return make_merchant(aws, "acme")


