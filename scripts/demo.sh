#!/usr/bin/env bash
# The main job: sets the machine up (scripts/setup.sh), then makes a sample video with known
# content, indexes it and asks it questions, printing answers with their evidence (demos/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m demos.demo "${1:-out/demo}"
