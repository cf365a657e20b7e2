#!/usr/bin/env bash
# The prepared device check (benchmarks/gpu_check.py, docs/performance.md): prints one JSON object, built to fit
# in 8 minutes on one H100/H200. CI runs `benchmarks/gpu_check.sh --device cpu --quick` so that it cannot rot.
#   benchmarks/gpu_check.sh [--device cuda|cpu] [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" MPLBACKEND="${MPLBACKEND:-Agg}" SDL_VIDEODRIVER="${SDL_VIDEODRIVER:-dummy}"
exec "${PYTHON:-python}" -m benchmarks.gpu_check "$@"
