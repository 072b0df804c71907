#!/usr/bin/env bash
# The main job on a fresh machine: install rulesc, check and test the example game, and
# serve it on the embedded default store (SQLite in .rulesc-data/) at http://127.0.0.1:8000.
# Extra arguments go to `rulesc serve` (e.g. --port 9000 --watch).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e .
rulesc check games/harvest
rulesc test games/harvest
exec rulesc serve games/harvest "$@"
