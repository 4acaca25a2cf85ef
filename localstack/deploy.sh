#!/usr/bin/env bash
# docker-compose.yml's `deployer`: build and deploy template.yaml into LocalStack, then print the
# API's URL and a sandbox merchant's API key (also written to $PAYGATE_DEPLOY_OUT as JSON).
#
# Runs in python:3.12 (the functions' runtime, so `sam build` builds the layer as for Lambda) once
# LocalStack is healthy. The tools (aws-sam-cli, cfn-flip and the layer's own requirements, pinned
# in localstack/requirements-deployer.txt) go into a venv on a cached volume: installed on the
# first `docker compose up`, reused afterwards. Everything else is localstack/deploy.py.
#
# By hand, against any LocalStack (or MiniStack), with the same tools in localstack/.state/deployer:
#   bash localstack/setup-deployer.sh
#   PATH="$PWD/localstack/.state/deployer/bin:$PATH" python localstack/deploy.py --endpoint http://127.0.0.1:4566
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

REQUIREMENTS=localstack/requirements-deployer.txt
VENV="${PAYGATE_DEPLOYER_VENV:-/cache/venv}"
stamp="$(cat "$REQUIREMENTS" | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$VENV/.installed" || "$(cat "$VENV/.installed")" != "$stamp" ]]; then
    echo "deployer: installing $REQUIREMENTS into $VENV (first run only)"
    python3 -m venv --clear "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$REQUIREMENTS"
    echo "$stamp" > "$VENV/.installed"
fi
export PATH="$VENV/bin:$PATH"

exec python localstack/deploy.py --template template.yaml "$@"
