#!/usr/bin/env bash
# Sets up the machine (scripts/setup.sh), then runs the default test suite: everything except the
# tests marked gpu, weights or habitat, which need hardware, real weights or a simulator absent here.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest -m "not gpu and not weights and not habitat" "$@"
