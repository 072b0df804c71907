#!/usr/bin/env bash
# The README's two commands, run as a newcomer runs them: a clean clone of what is
# committed, a new HOME, Debian's own python3 (PEP 668: its system site is not ours to
# install into) and a PATH without the optional tools (redis-server, redis-cli, nginx,
# graphviz, node, npm, chromium), never installing them (RULESC_NO_APT=1). It checks that
#   - scripts/test.sh makes .venv, passes, and skips each test that needs a missing tool
#     with the apt-get line to run (a skip with a reason, never an error);
#   - scripts/test.sh run again reuses .venv;
#   - scripts/serve.sh serves the example game (a guest signs in and reads its state).
# Run by tests/test_fresh_machine.py (slow); by hand: scripts/fresh-machine-check.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${RULESC_FRESH_PYTHON:-/usr/bin/python3}"   # the distribution's python3
WORK="$(mktemp -d)"
serve_pid=""
cleanup() {
    if [ -n "$serve_pid" ]; then kill -- -"$serve_pid" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "fresh-machine-check: FAILED: $*" >&2; exit 1; }

git clone -q "$ROOT" "$WORK/rulesc"
mkdir -p "$WORK/home" "$WORK/bin"
# every command of the machine but the optional tools (and other Pythons than $PYTHON)
for dir in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
    [ -d "$dir" ] || continue
    for path in "$dir"/*; do
        name="${path##*/}"
        case "$name" in
            redis-server | redis-cli | nginx | dot | node | nodejs | npm | npx | chromium | \
                chromium-browser | python3* | python | pip*) continue ;;
        esac
        [ -e "$WORK/bin/$name" ] || ln -s "$path" "$WORK/bin/$name"
    done
done
ln -s "$PYTHON" "$WORK/bin/python3"

fresh() {  # a command in the clone, in the newcomer's environment
    env -i HOME="$WORK/home" PATH="$WORK/bin" LANG=C.UTF-8 TERM=dumb RULESC_NO_APT=1 \
        ${PIP_CACHE_DIR:+PIP_CACHE_DIR="$PIP_CACHE_DIR"} \
        bash -c "cd '$WORK/rulesc' && $1"
}

echo "== scripts/test.sh on a fresh clone (python: $("$PYTHON" --version), no optional tools)"
tests="tests/test_store_contract.py tests/test_graph.py tests/test_js_client.py"
tests="$tests tests/test_cli_help.py tests/test_harvest_pack.py"
fresh "./scripts/test.sh -m 'not slow' -rs -p no:cacheprovider $tests" >"$WORK/test.log" 2>&1 ||
    { cat "$WORK/test.log"; fail "scripts/test.sh exited non-zero"; }
for line in "sudo apt-get install -y redis-server" "sudo apt-get install -y graphviz" \
    "sudo apt-get install -y nodejs"; do
    grep -qF -- "$line" "$WORK/test.log" || { cat "$WORK/test.log"; fail "no skip saying '$line'"; }
done
summary="$(tail -n 1 "$WORK/test.log")"
case "$summary" in
    *passed*skipped*) ;;
    *) cat "$WORK/test.log"; fail "expected passes and skips, got: $summary" ;;
esac
case "$summary" in *error* | *failed*) cat "$WORK/test.log"; fail "errors: $summary" ;; esac
echo "   $summary"

echo "== scripts/test.sh again: the venv is reused"
fresh "./scripts/test.sh -p no:cacheprovider tests/test_cli_help.py" >"$WORK/again.log" 2>&1 ||
    { cat "$WORK/again.log"; fail "the second run failed"; }
grep -q "reusing .*\.venv" "$WORK/again.log" || { cat "$WORK/again.log"; fail "the venv was not reused"; }

echo "== scripts/serve.sh serves the example game"
port="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
setsid env -i HOME="$WORK/home" PATH="$WORK/bin" LANG=C.UTF-8 TERM=dumb \
    bash -c "cd '$WORK/rulesc' && exec ./scripts/serve.sh --port $port" >"$WORK/serve.log" 2>&1 &
serve_pid=$!
"$PYTHON" - "$port" "$serve_pid" "$WORK/serve.log" <<'PY' || fail "serve.sh did not serve the game"
# a guest signs in and reads its state (urllib: a fresh machine may have no curl)
import json, os, sys, time, urllib.request
port, pid, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
base = f"http://127.0.0.1:{port}"
deadline = time.monotonic() + 180  # the first run checks and tests the game first
while True:
    try:
        urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
        break
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            sys.exit(f"serve.sh exited:\n{open(log).read()}")
        if time.monotonic() > deadline:
            sys.exit(f"serve.sh did not answer in time:\n{open(log).read()}")
        time.sleep(0.2)
body = json.dumps({"device_id": "fresh-machine-0001"}).encode()
request = urllib.request.Request(f"{base}/v1/harvest/session", body,
                                 {"Content-Type": "application/json"})
token = json.load(urllib.request.urlopen(request, timeout=5))["token"]
request = urllib.request.Request(f"{base}/v1/harvest/state",
                                 headers={"Authorization": f"Bearer {token}"})
state = json.load(urllib.request.urlopen(request, timeout=5))
assert "coins" in json.dumps(state), state
PY
echo "   served harvest on port $port: a guest signed in and read its state"
echo "fresh-machine-check: ok"
