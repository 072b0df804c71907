#!/usr/bin/env bash
# Set up from a fresh machine and run every check: the project's venv (.venv, made once and
# reused), the Debian packages the tests use (installed when run as root, otherwise the
# apt-get line is printed and the tests needing them are skipped, saying why), the npm
# packages of the JavaScript tests, lint, format and type checks, then the whole test suite.
# Extra arguments go to pytest (e.g. -m "not slow", -k ledger, -x).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# redis-server/redis-cli: the runtime tests' own Redis servers and Cluster (tests/conftest.py);
# graphviz: `rulesc graph --format svg|png`; nginx: the deploy and fault tests; nodejs/npm:
# the JavaScript client tests; postgresql (initdb, pg_ctl): the history sink's own
# PostgreSQL server (tests/pgkit.py); chromium (Debian only: Ubuntu ships it as a snap): the
# playground's browser test. None of their system services is used.
packages=(redis-server:redis-server redis-cli:redis-tools dot:graphviz nginx:nginx
          node:nodejs npm:npm initdb:postgresql)
if grep -qs '^ID=debian' /etc/os-release; then packages+=(chromium:chromium); fi
ensure_packages "${packages[@]}"

ensure_venv dev
if command -v npm >/dev/null 2>&1; then
    say "npm ci (playwright-core, typescript, ws: package-lock.json pins them)"
    npm ci --no-audit --no-fund --loglevel=error
fi

say "ruff check, ruff format --check, mypy, rulesc fmt --check games tests/exploits"
python -m ruff check .
python -m ruff format --check .   # one layout for the Python too (`ruff format .` fixes it)
python scripts/typecheck.py   # mypy on the package as a wheel lays it out
# every game's rules in the canonical layout, the planted exploits' too (none of them is
# unformatted on purpose: what explore finds there does not depend on the layout)
python -m rulesc.cli.main fmt --check games tests/exploits

say "pytest $*"
set +e
python -m pytest -W error::ResourceWarning "$@"
status=$?
set -e
# pytest exits 5 when it collected no test: that is a failure, not a pass.
if [ "$status" -eq 5 ]; then say "no tests were collected"; exit 1; fi
exit "$status"
