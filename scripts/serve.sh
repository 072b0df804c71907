#!/usr/bin/env bash
# The main job on a fresh machine: make the project's venv (.venv, reused after), install
# rulesc, check and test the example game, and serve it on the embedded default store
# (SQLite in .rulesc-data/) at http://127.0.0.1:8000 (the playground: /play/harvest).
# Extra arguments go to `rulesc serve` (e.g. --port 9000 --watch).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv ""
say "rulesc check games/harvest"
rulesc check games/harvest
say "rulesc test games/harvest"
rulesc test games/harvest
say "rulesc serve games/harvest $*"
exec rulesc serve games/harvest "$@"
