#!/usr/bin/env bash
# Set up from a fresh machine and run every check: install, lint, format checks, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e '.[dev]'
# playwright-core and typescript, for the JavaScript tests (package-lock.json pins them)
if command -v npm >/dev/null 2>&1; then
    npm ci --no-audit --no-fund --loglevel=error
fi
python3 -m ruff check .
python3 scripts/typecheck.py   # mypy on the package as a wheel lays it out
# every game's rules in the one canonical layout (`rulesc fmt games` fixes them)
python3 -m rulesc.cli.main fmt --check games
set +e
python3 -m pytest "$@"
status=$?
set -e
# pytest exits 5 when it collected no test: that is a failure, not a pass.
if [ "$status" -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi
exit "$status"
