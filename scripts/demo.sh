#!/usr/bin/env bash
# The main job on a fresh machine: install, then migrate + seed a demo dataset + run the nightly
# pipeline on the embedded PostgreSQL (or on DATABASE_URL when set), and print what it produced.
#   bash scripts/demo.sh [--orgs N --days D --seed S]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/auralink demo "$@"
