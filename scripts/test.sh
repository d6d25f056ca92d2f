#!/usr/bin/env bash
# The test command: install the pinned environment, find (or start) a PostgreSQL, run pytest.
#   bash scripts/test.sh [pytest args...]
# PostgreSQL: TEST_DATABASE_URL if set; else the local server at 127.0.0.1:5432 (user postgres);
# else an embedded PostgreSQL 16 from the pgserver wheel, started under .auralink/test-pgdata.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  if .venv/bin/python - <<'PY' 2>/dev/null
import psycopg
psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3).close()
PY
  then
    export TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:5432/postgres"
  else
    echo "no PostgreSQL at 127.0.0.1:5432: starting the embedded one for the tests"
    TEST_DATABASE_URL="$(.venv/bin/python -c '
import pgserver, pathlib
d = pathlib.Path(".auralink/test-pgdata"); d.parent.mkdir(exist_ok=True)
print(pgserver.get_server(str(d.resolve()), cleanup_mode=None).get_uri())')"
    export TEST_DATABASE_URL
  fi
fi
echo "tests use PostgreSQL at ${TEST_DATABASE_URL%%\?*}"
exec .venv/bin/python -m pytest "$@"
