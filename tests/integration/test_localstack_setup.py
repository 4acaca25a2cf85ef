"""localstack/setup-host.sh as ``paygate dev --backend localstack`` runs it: in the user's environment,
showing what a failing installer said.

The install step must reach the registry the user's own npm reaches, with the user's CA bundle: behind
a TLS-intercepting proxy, a scrubbed environment made npm fail with SELF_SIGNED_CERT_IN_CHAIN, and the
user saw only the progress line of the step. Here the "user" has a registry of their own, served over
HTTPS on 127.0.0.1 with a CA of its own (tests/integration/npm_registry.py), named in their npm
settings: the registry in ``npm_config_registry``, the CA in npm's global config (``$PREFIX/etc/npmrc``,
where npm looks for it; an npm run with ``--prefix`` would look elsewhere).

Each test runs the real setup-host.sh into a scratch LocalStack home that borrows the installed venv
and the npm tarballs of localstack/.state (so it redoes the npm install of kinesis-mock, whose
dependency comes from the registry, and the quick build steps; not the minute of pip). Runs with
``make test-localstack`` (PAYGATE_LOCALSTACK=1), after localstack/.state is set up.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

if os.environ.get("PAYGATE_LOCALSTACK") != "1":  # one line in `pytest -ra`, not one per test
    pytest.skip("LocalStack setup tests: run `make test-localstack` (PAYGATE_LOCALSTACK=1)", allow_module_level=True)

from npm_registry import NpmRegistry  # noqa: E402

from paygate_local.backends.localstack import KINESIS_MOCK_VERSION, LocalStackHost  # noqa: E402
from paygate_local.backends.localstack_setup import LocalStackError, install_environment  # noqa: E402

pytestmark = [pytest.mark.localstack, pytest.mark.timeout(900)]  # the first run installs localstack/.state

# kinesis-local's one dependency; what it holds does not matter, only where npm takes it from.
PUNYCODE = "module.exports = 'punycode from the test registry';\n"
PACKAGES = {"punycode": {"2.1.1": {"punycode.js": PUNYCODE}}}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real LocalStack home, set up (quick when `make localstack-setup` has run)."""
    host = LocalStackHost(tmp_path_factory.mktemp("installed"), progress=None)
    host.setup()
    return host.home


@pytest.fixture
def scratch_home(tmp_path: Path, installed: Path) -> Path:
    home = tmp_path / "home"
    (home / "cache" / "npm").mkdir(parents=True)
    (home / "venv").symlink_to(installed / "venv")  # setup-host.sh finds it complete and keeps it
    tarballs = sorted((installed / "cache" / "npm").glob("*.tgz"))
    assert {t.name for t in tarballs} >= {f"kinesis-local-{KINESIS_MOCK_VERSION}.tgz"}, tarballs
    for tarball in tarballs:
        (home / "cache" / "npm" / tarball.name).symlink_to(tarball)
    return home


@pytest.fixture
def user_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scratch_home: Path):
    """The user's npm settings, in their environment: a global config dir ($PREFIX/etc/npmrc), an empty
    user config, no retries (a failure shows at once). Returns a function that writes the global npmrc."""
    prefix = tmp_path / "npm-prefix"
    (prefix / "etc").mkdir(parents=True)
    (tmp_path / "user-npmrc").write_text("")
    for name in ("NODE_EXTRA_CA_CERTS", "npm_config_cafile", "npm_config_ca", "NPM_CONFIG_CAFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAYGATE_LOCALSTACK_HOME", str(scratch_home))
    monkeypatch.setenv("PREFIX", str(prefix))
    monkeypatch.setenv("npm_config_userconfig", str(tmp_path / "user-npmrc"))
    monkeypatch.setenv("npm_config_fetch_retries", "0")

    def global_npmrc(text: str) -> None:
        (prefix / "etc" / "npmrc").write_text(text)

    return global_npmrc


def test_the_install_step_uses_the_users_registry_and_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          scratch_home: Path, user_npm):
    progress = io.StringIO()
    with NpmRegistry(PACKAGES, tmp_path / "tls") as registry:
        monkeypatch.setenv("npm_config_registry", registry.url)
        user_npm(f"cafile={registry.ca_pem}\n")
        host = LocalStackHost(tmp_path / "run", progress=progress)
        assert host.home == scratch_home.resolve()
        host.setup()
    assert "/punycode" in registry.requests and "/punycode/-/punycode-2.1.1.tgz" in registry.requests
    modules = scratch_home / "lib" / "kinesis-local" / KINESIS_MOCK_VERSION / "node_modules"
    assert (modules / "kinesis-local" / "main.js").is_file()
    assert (modules / "punycode" / "punycode.js").read_text() == PUNYCODE
    # The user saw the steps as they happened, not only at the end.
    shown = progress.getvalue()
    assert f"setup-host: installing kinesis-mock from kinesis-local-{KINESIS_MOCK_VERSION}.tgz" in shown
    assert "setup-host: ready" in shown
    assert not host.setup_needed()


def test_a_failing_install_step_shows_what_the_installer_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              scratch_home: Path, user_npm):
    # The registry's CA is nowhere in the user's settings: npm refuses its certificate, as it refused
    # the intercepting proxy's when the CA bundle was scrubbed away.
    with NpmRegistry(PACKAGES, tmp_path / "tls") as registry:
        monkeypatch.setenv("npm_config_registry", registry.url)
        user_npm("")
        host = LocalStackHost(tmp_path / "run", progress=None)
        with pytest.raises(LocalStackError) as failed:
            host.setup()
    message = str(failed.value)
    assert f"request to {registry.url}punycode failed" in message  # npm reached the user's registry
    assert f"npm install kinesis-local-{KINESIS_MOCK_VERSION}.tgz failed" in message
    assert "npm error code SELF_SIGNED_CERT_IN_CHAIN" in message  # npm's own words, not only the step
    log = scratch_home / "logs" / "npm-install-kinesis-local.log"
    assert str(log) in message and "SELF_SIGNED_CERT_IN_CHAIN" in log.read_text()
    assert host.setup_needed()


def test_the_install_environment_is_the_users_and_localstack_keeps_its_own(monkeypatch: pytest.MonkeyPatch,
                                                                            tmp_path: Path):
    user = {"PATH": "/usr/bin", "HOME": "/home/u", "NODE_EXTRA_CA_CERTS": "/etc/ca.pem", "PIP_CERT": "/etc/ca.pem",
            "SSL_CERT_FILE": "/etc/ca.pem", "HTTPS_PROXY": "http://proxy:3128", "no_proxy": "localhost",
            "npm_config_registry": "https://registry.example/", "PIP_INDEX_URL": "https://pypi.example/simple",
            "PYTHONPATH": "/paygate/infra", "PYTHONHOME": "/paygate"}
    kept = install_environment(user)
    assert kept == {k: v for k, v in user.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    for name, value in user.items():
        monkeypatch.setenv(name, value)
    localstack = LocalStackHost(tmp_path, progress=None).environment()
    assert {"NODE_EXTRA_CA_CERTS", "HTTPS_PROXY", "npm_config_registry", "PYTHONPATH"}.isdisjoint(localstack)
    assert localstack["PATH"] == "/usr/bin" and localstack["GATEWAY_LISTEN"].startswith("127.0.0.1:")
