#!/usr/bin/env bash
# The main job on a fresh machine: install rulesc, then check, test and build the example game.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e .
rulesc check games/harvest
rulesc test games/harvest
rulesc build games/harvest -o build/harvest
