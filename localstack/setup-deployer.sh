#!/usr/bin/env bash
# Prepare, without Docker, what localstack/deploy.py deploys with and a CloudFormation to deploy into:
#
#   localstack/setup-deployer.sh
#
#   PAYGATE_LOCALSTACK_HOME (default localstack/.state, git-ignored):
#     deployer/    Python 3.12 + the SAM CLI, cfn-flip and the layer's requirements, pinned by
#                  requirements-deployer.txt: docker compose's deployer has the same (localstack/deploy.sh)
#     ministack/   Python 3.12 + MiniStack and aws-sam-translator, pinned by requirements-ministack.lock:
#                  a CloudFormation with the SAM transform that runs Python Lambdas as local processes,
#                  which tests/integration/test_ministack_deploy.py and `paygate ministack` deploy template.yaml into
#     logs/        what pip said (pip-deployer.log, pip-ministack.log)
#
# Idempotent and quick once done: a venv is made again only when its lock file or its Python changed.
# Each install runs in the user's own environment (CA bundle, proxies, pip settings); when one fails,
# the last lines pip printed are shown (localstack/host/common.sh). Python 3.12 is the functions'
# runtime (`sam build` builds the layer for it and MiniStack runs the functions on its own interpreter):
# pyenv's, python3.12 on PATH, or $PAYGATE_PYTHON312. Everything comes from PyPI.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SETUP_NAME=setup-deployer
# shellcheck source=host/common.sh
source "$HERE/host/common.sh"  # say, die, run_logged, find_python, pip_venv; HOME_DIR

PY312="$(find_python 3.12 PAYGATE_PYTHON312)" || die "the deployer and MiniStack need Python 3.12 (the
  functions' runtime) and none was found: looked at \$PAYGATE_PYTHON312, \$PYENV_ROOT/versions/3.12*/bin/python
  and python3.12 on PATH. Install one (e.g. 'pyenv install 3.12') or set PAYGATE_PYTHON312=/path/to/python3.12."

pip_venv "$HOME_DIR/deployer" "$PY312" "$HERE/requirements-deployer.txt" "$HOME_DIR/logs/pip-deployer.log"
run_logged "$HOME_DIR/logs/sam-version.log" "sam --version (in $HOME_DIR/deployer)" "$HOME_DIR/deployer/bin/sam" --version

pip_venv "$HOME_DIR/ministack" "$PY312" "$HERE/requirements-ministack.lock" "$HOME_DIR/logs/pip-ministack.log"
run_logged "$HOME_DIR/logs/ministack-import.log" "import ministack, samtranslator (in $HOME_DIR/ministack)" \
    "$HOME_DIR/ministack/bin/python" -c 'import ministack.app, samtranslator.translator.transform'

say "ready: $HOME_DIR/deployer/bin/sam, $HOME_DIR/ministack/bin/ministack"
