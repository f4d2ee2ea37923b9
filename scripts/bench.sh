#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the simulated store bench: `walkout bench ARGS...`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh
echo "[bench] .venv/bin/walkout bench $*"
exec "$ROOT/.venv/bin/walkout" bench "$@"
