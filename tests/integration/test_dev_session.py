"""The dev session without the CLI: dev.json exists exactly while everything answers."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from paygate_local.devfile import read_dev
from paygate_local.session import DevOptions, DevSession

ROOT = Path(__file__).resolve().parents[2]


def test_a_session_writes_dev_json_once_ready_and_removes_it_when_it_stops(tmp_path):
    # Given a session on a fresh state directory
    session = DevSession(DevOptions(template=ROOT / "template.yaml", state_dir=tmp_path, port=0,
                                    parameters={"ProviderCallbackSecret": "not-in-dev-json"}))
    try:
        # When it starts
        info = session.start()
        # Then dev.json is what start() returned, and what it names answers
        assert read_dev(tmp_path) == info and info.pid == os.getpid() and info.backend == "moto"
        assert "ProviderCallbackSecret" not in info.parameters and info.parameters["Mode"] == "dev"
        assert httpx.get(f"{info.api_url}/health", timeout=30).status_code == 200
        assert httpx.get(f"{info.api_url}/v1/payments", headers={"Authorization": f"Bearer {info.api_key}"},
                         timeout=30).status_code == 200
        assert f"API key:  {info.api_key}" in session.ready_message()
        # When it stops, dev.json is gone first
        assert session.stop() >= 0
        assert not (tmp_path / "dev.json").exists()
    finally:
        session.close()
    assert not (tmp_path / "dev.json").exists()
