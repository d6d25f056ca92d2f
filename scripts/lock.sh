#!/usr/bin/env bash
# Re-compile the pinned lock files from pyproject.toml. Needs the torch CPU wheel reachable:
# /opt/wheels here, or PyTorch's CPU index elsewhere (TORCH_CPU_INDEX).
set -euo pipefail
cd "$(dirname "$0")/.."
torch_src=(--find-links /opt/wheels)
[ -d /opt/wheels ] || torch_src=(--extra-index-url "${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}" --index-strategy unsafe-best-match)
common=(--python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-header --emit-index-annotation --generate-hashes)
uv pip compile pyproject.toml --extra dev "${common[@]}" -o requirements/core.lock
uv pip compile pyproject.toml --extra dev --extra whisper --extra faster-whisper "${torch_src[@]}" "${common[@]}" \
   --override <(echo "triton; sys_platform == 'never'") -o requirements/full.lock
