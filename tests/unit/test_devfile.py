"""dev.json and ministack.json as typed models: one writer, one reader, clear errors, unknown fields kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paygate_local.devfile import (
    DeployInfo,
    DevFileError,
    DevFileMissing,
    DevInfo,
    read_dev,
    read_gateway,
)

DEV = {"api_url": "http://127.0.0.1:3000", "api_key": "sk_test_x", "merchant_id": "mer_x",
       "aws_endpoint_url": "http://127.0.0.1:5000", "provider_url": "http://127.0.0.1:4010",
       "providers": {"sandbox": "http://127.0.0.1:4010", "sandbox-b": "http://127.0.0.1:4011"}, "backend": "moto",
       "parameters": {"Mode": "dev"}, "region": "eu-west-1", "merchants_table": "paygate-MerchantsTable",
       "logs_dir": "/s/logs", "state_file": "/s/state.db", "pid": 123, "control_url": "http://127.0.0.1:3001",
       "debug": {"ApiFunction": 5678}}


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_what_is_written_is_read_back_field_for_field(tmp_path):
    # Given a dev.json written by the model
    info = DevInfo(**DEV)
    info.write(tmp_path / "dev.json")
    # Then it holds exactly the fields, and reads back equal
    assert json.loads((tmp_path / "dev.json").read_text()) == DEV
    assert read_dev(tmp_path) == info and read_dev(tmp_path).region == "eu-west-1"
    assert not list(tmp_path.glob(".dev.json.*"))  # no temporary file left behind


def test_unknown_fields_are_kept_and_written_back(tmp_path):
    # Given a file of a newer paygate, with a field this one does not know
    write(tmp_path / "dev.json", {**DEV, "tunnel_url": "http://127.0.0.1:9"})
    info = read_dev(tmp_path)
    # Then reading works, and the field survives a rewrite
    assert info.extra == {"tunnel_url": "http://127.0.0.1:9"}
    assert info.as_json() == {**DEV, "tunnel_url": "http://127.0.0.1:9"}


def test_fields_with_defaults_may_be_missing(tmp_path):
    older = {k: v for k, v in DEV.items() if k not in ("region", "backend", "parameters")}
    info = read_dev(write(tmp_path / "dev.json", older).parent)
    assert (info.region, info.backend, info.parameters) == ("us-east-1", "moto", {})


@pytest.mark.parametrize(("content", "message"), [
    ("{", "is not JSON"),
    ("[1, 2]", "is not a JSON object but list"),
    (json.dumps({k: v for k, v in DEV.items() if k not in ("api_key", "pid")}), "has no api_key, pid"),
    (json.dumps({**DEV, "pid": "123"}), "has pid = '123', not int"),
    (json.dumps({**DEV, "pid": True}), "has pid = True"),
    (json.dumps({**DEV, "parameters": {"Mode": 1}}), "has parameters = {'Mode': 1}, not dict[str, str]"),
])
def test_a_malformed_file_is_one_clear_error_naming_it(tmp_path, content, message):
    path = write(tmp_path / "dev.json", content)
    with pytest.raises(DevFileError, match="^" + str(path).replace(".", r"\.")) as caught:
        read_dev(tmp_path)
    assert message in str(caught.value) and not isinstance(caught.value, DevFileMissing)


def test_a_missing_file_is_its_own_error(tmp_path):
    with pytest.raises(DevFileMissing) as caught:
        read_dev(tmp_path)
    assert caught.value.path == tmp_path / "dev.json" and str(caught.value).endswith("dev.json not found")


def test_the_gateway_is_dev_json_else_ministack_json(tmp_path):
    deployed = {**{k: v for k, v in DEV.items() if k not in ("logs_dir", "state_file", "pid")}, "backend": "ministack",
                "stack_name": "paygate", "rest_api_id": "abc", "tables": {"AggregatesTable": "paygate-Agg-1"},
                "deploy_seconds": 61.5}
    write(tmp_path / "ministack.json", deployed)
    found = read_gateway(tmp_path)
    assert isinstance(found, DeployInfo) and found.tables["AggregatesTable"] == "paygate-Agg-1"
    DevInfo(**DEV).write(tmp_path / "dev.json")
    assert isinstance(read_gateway(tmp_path), DevInfo)
    with pytest.raises(DevFileMissing):
        read_gateway(tmp_path / "elsewhere")
