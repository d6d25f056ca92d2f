#!/usr/bin/env bash
# Create .venv and install the pinned environment: the same steps CI and the Dockerfile run.
#   scripts/install.sh          core + dev + speech extras (openai-whisper on CPU torch, faster-whisper)
#   AURALINK_LOCK=core scripts/install.sh   core + dev only: no torch at all
set -euo pipefail
cd "$(dirname "$0")/.."
lock="requirements/${AURALINK_LOCK:-full}.lock"
venv="${AURALINK_VENV:-.venv}"

if ! command -v uv >/dev/null 2>&1; then
  python3.11 -m pip install --quiet "uv==0.13.9"
fi
[ -x "$venv/bin/python" ] || uv venv --quiet --python python3.11 "$venv"

# torch is pinned to 2.13.0+cpu in the lock; where it comes from depends on the machine.
torch_src=()
if ls /opt/wheels/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then
  torch_src=(--find-links /opt/wheels)
else
  torch_src=(--extra-index-url "${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}" --index-strategy unsafe-best-match)
fi
VIRTUAL_ENV="$venv" uv pip sync --quiet "${torch_src[@]}" "$lock"
VIRTUAL_ENV="$venv" uv pip install --quiet --no-deps -e .
echo "installed $lock into $venv"
