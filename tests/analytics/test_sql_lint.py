"""sqlfluff lints every dbt model (dbt templater, dbt_project/.sqlfluff): what CI runs on the SQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"


def test_the_dbt_models_pass_sqlfluff(db_url, tmp_path):
    """The dbt templater compiles each model as dbt does (macros, refs, the night's vars), against a
    migrated database (is_incremental() asks it), into a target folder of its own."""
    from auralink.analytics.dbt_runner import dbt_env

    sqlfluff = Path(sys.executable).parent / "sqlfluff"
    env = {**os.environ, **dbt_env(db_url), "DBT_TARGET_PATH": str(tmp_path / "target"),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run([str(sqlfluff), "lint", "models"], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600, check=False)
    report = "\n".join(line for line in done.stdout.splitlines() if line.strip() and not line.startswith("WARNING"))
    assert done.returncode == 0, f"sqlfluff found problems (fix with `sqlfluff fix` in dbt_project/):\n{report[-6000:]}"
    assert "All Finished" in done.stdout
