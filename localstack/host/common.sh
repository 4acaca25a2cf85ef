# Shell helpers of localstack/setup-host.sh and localstack/setup-deployer.sh (sourced, not run).
#
# Each install step runs in the user's own environment (CA bundles, proxies, npm and pip settings),
# with its output in a log file; when it fails, the tail of that log is printed before the error, so
# that what the installer said (SELF_SIGNED_CERT_IN_CHAIN, a proxy refusing, a missing wheel) is
# seen, not only which step failed.

SETUP_NAME="${SETUP_NAME:-setup}"

# Where everything is installed: $PAYGATE_LOCALSTACK_HOME, by default localstack/.state (git-ignored).
HOME_DIR="${PAYGATE_LOCALSTACK_HOME:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.state}"
mkdir -p "$HOME_DIR"
HOME_DIR="$(cd "$HOME_DIR" && pwd)"

say() { printf '%s: %s\n' "$SETUP_NAME" "$*" >&2; }
die() { printf '%s: error: %s\n' "$SETUP_NAME" "$*" >&2; exit 1; }

# run_logged LOG WHAT COMMAND...: run COMMAND with its output in LOG; on failure print the last
# lines of LOG and die saying WHAT failed.
run_logged() {
    local logfile="$1" what="$2"
    shift 2
    mkdir -p "$(dirname "$logfile")"
    if ! "$@" > "$logfile" 2>&1; then
        {
            printf '%s: %s failed; its last lines (all of them in %s):\n' "$SETUP_NAME" "$what" "$logfile"
            tail -n 25 "$logfile" | sed 's/^/    /'
        } >&2
        die "$what failed"
    fi
}

# find_python X.Y VARIABLE: the path of a Python X.Y that can make venvs: $VARIABLE, else pyenv's,
# else pythonX.Y on PATH.
find_python() {
    local want="$1" variable="$2" candidates=() found py
    [[ -n "${!variable:-}" ]] && candidates+=("${!variable}")
    for found in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$want"*/bin/python /root/.pyenv/versions/"$want"*/bin/python; do
        [[ -x "$found" ]] && candidates+=("$found")
    done
    found="$(command -v "python$want" || true)"
    [[ -n "$found" ]] && candidates+=("$found")
    for py in "${candidates[@]}"; do
        if "$py" -c "import sys, venv; sys.exit(sys.version_info[:2] != tuple(map(int, '$want'.split('.'))))" 2>/dev/null; then
            echo "$py"
            return 0
        fi
    done
    return 1
}

# pip_venv VENV PYTHON LOCK LOG: make VENV with PYTHON and exactly the packages of LOCK (pip
# install --no-deps -r), unless VENV/.installed already says so. Its stamp is over LOCK and PYTHON.
pip_venv() {
    local venv="$1" python="$2" lock="$3" logfile="$4" stamp
    stamp="$({ cat "$lock"; echo "$python"; } | sha256sum | cut -d' ' -f1)"
    if [[ -x "$venv/bin/python" && -f "$venv/.installed" && "$(cat "$venv/.installed")" == "$stamp" ]]; then
        return 0
    fi
    say "creating $venv with $("$python" -V) and the packages in $(basename "$lock") (about a minute)"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    run_logged "$logfile" "pip install -r $lock" \
        bash -c '"$1" -m pip install --upgrade pip && "$1" -m pip install --no-deps -r "$2"' _ "$venv/bin/python" "$lock"
    echo "$stamp" > "$venv/.installed"
}
