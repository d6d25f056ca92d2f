"""End to end: the local Airflow of `auralink airflow up` loads every DAG, backfills two nights of the
nightly DAG through the real scheduler (Airflow 3's backfill), each night processing its own day, and its
UI shows the runs in headless Chromium (screenshot kept as a test artifact).

Run it alone with ``pytest -m airflow_ui``; it also runs in the default suite (CI). The screenshot goes to
``test-artifacts/`` in the checkout, or AURALINK_TEST_ARTIFACTS. Needs Debian's ``chromium`` package and the
``playwright`` Python package (its bundled driver only: no browser download); where either is missing the
test skips, except under CI, where it fails.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "nightly"  # the main nightly DAG
CURRENT_ONLY = {"ensure_partitions", "process_compliance_requests", "flag_overdue_compliance_requests",
                "send_alerts"}
CHROMIUM = os.environ.get("AURALINK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Playwright adds --headless; the rest keep Chromium off the (closed) network and out of first-run UI.
GRID_ROW_PX, GRID_CHROME_PX = 28, 500  # above the grid's row height; the page around the grid
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-quic", "--disable-component-update", "--disable-sync"]
START_TIMEOUT = float(os.environ.get("AURALINK_E2E_START_TIMEOUT", "600"))
RUN_TIMEOUT = float(os.environ.get("AURALINK_E2E_RUN_TIMEOUT", "2700"))  # two nights, one after the other

# A hard ceiling so a hung Airflow cannot eat CI's whole budget (pytest-timeout; the `with` still stops it).
pytestmark = [pytest.mark.airflow_ui, pytest.mark.slow, pytest.mark.timeout(START_TIMEOUT + RUN_TIMEOUT + 600)]


def artifacts_dir() -> Path:
    path = Path(os.environ.get("AURALINK_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _missing(reason: str) -> None:
    """Skip on a person's machine without the browser; in CI a missing browser is a failure, not a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the Airflow UI test)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dag_ids_in_dags_folder() -> set[str]:
    ids = set()
    for path in (ROOT / "dags").glob("*.py"):
        ids.update(re.findall(r"""dag_id\s*=\s*["']([\w.-]+)["']""", path.read_text()))
    return ids


@pytest.fixture
def nightly_database(make_database) -> str:
    """A small seeded dataset whose last day is yesterday (UTC): what tonight's nightly run would see."""
    from auralink.seed.generator import SeedConfig, seed_database

    url = make_database("migrated")
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    seed_database(SeedConfig(orgs=4, days=5, seed=7, end_date=yesterday, audio=False), url=url, progress=False)
    return url


def test_local_airflow_runs_the_nightly_dag_and_shows_it_in_the_grid(nightly_database, make_database, tmp_path):
    if not Path(CHROMIUM).exists():
        _missing(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright Python package is not installed (pip install playwright; no browser download)")

    from auralink.orchestration.local_airflow import LocalAirflowConfig, running

    timings: dict[str, float] = {}
    cfg = LocalAirflowConfig.for_project(
        home=tmp_path / "airflow", port=_free_port(), database_url=nightly_database,
        metadata_url=make_database("empty"),
        # Unpausing would otherwise first create the latest scheduled run, and with max_active_runs=1
        # ours would wait for it: the test's run is the manual one it triggers.
        extra_env={"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                   # dbt as a deployment runs it: one build, its models' tasks watching (the tests' own
                   # dag.test() runs use one dbt invocation per task instead).
                   "AURALINK_DBT_EXECUTION_MODE": "watcher"},
    )
    # The test process's own Airflow settings (conftest: unit-test mode, a SQLite home) are not the server's.
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    started = time.monotonic()
    with running(cfg, base_env=base_env, timeout=START_TIMEOUT) as airflow:
        timings["start_s"] = time.monotonic() - started
        password = airflow.admin_password()
        token = httpx.post(f"{cfg.base_url}/auth/token", json={"username": "admin", "password": password},
                           timeout=30).raise_for_status().json()["access_token"]
        api = httpx.Client(base_url=f"{cfg.base_url}/api/v2", headers={"Authorization": f"Bearer {token}"},
                           timeout=30)

        # 1. Every DAG in dags/ is loaded, and nothing failed to import.
        expected = dag_ids_in_dags_folder()
        assert DAG_ID in expected
        loaded = wait_for_dags(api, expected, timeout=300)
        errors = api.get("/importErrors").raise_for_status().json()
        assert errors["total_entries"] == 0, json.dumps(errors["import_errors"], indent=2)
        assert loaded == expected

        # 2. Backfill the two nights before yesterday's (logical dates at 02:00 the day after each) and wait.
        today = dt.datetime.now(dt.UTC).date()
        nights = [today - dt.timedelta(days=3), today - dt.timedelta(days=2)]
        api.patch(f"/dags/{DAG_ID}", json={"is_paused": False}).raise_for_status()
        backfill = api.post("/backfills", json={
            "dag_id": DAG_ID, "from_date": f"{nights[0] + dt.timedelta(days=1)}T00:00:00Z",
            "to_date": f"{nights[-1] + dt.timedelta(days=1)}T03:00:00Z", "max_active_runs": 1,
            "reprocess_behavior": "none"}).raise_for_status().json()
        started = time.monotonic()
        run_ids, states = wait_for_backfill(api, backfill["id"], expected_runs=len(nights), timeout=RUN_TIMEOUT)
        timings["run_s"] = time.monotonic() - started
        state = "success" if states and set(states.values()) == {"success"} else str(states)
        run_id = run_ids[-1]
        listed = (api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 500})
                  .raise_for_status().json()["task_instances"])
        instances = {ti["task_id"]: ti["state"] for ti in listed}
        empty = {ti["task_id"] for ti in listed if "EmptyOperator" in (ti.get("operator"), ti.get("operator_name"))}
        task_ids = list(instances)
        diagnostics = "" if state == "success" else "\n".join(failure_report(api, cfg.home, r) for r in run_ids)

        # 3. The grid in headless Chromium, whatever the outcome: a red grid is a useful CI artifact too.
        shot = artifacts_dir() / f"airflow-grid-{DAG_ID}.png"
        started = time.monotonic()
        try:
            page = grid_screenshot(cfg.base_url, password, run_id, task_ids, shot, tmp_path / "chromium-profile")
        except Exception as exc:  # after a failed run, its logs matter more than a broken screenshot
            if state == "success":
                raise
            page = {"screenshot_error": repr(exc)}
        # The dbt docs site inside the UI, as the nights' dbt_docs job left it: the marts' lineage graph.
        docs_shot = artifacts_dir() / "airflow-dbt-docs.png"
        try:
            docs_page = docs_screenshot(cfg.base_url, password, docs_shot, tmp_path / "chromium-docs")
        except Exception as exc:
            if state == "success":
                raise
            docs_page = {"screenshot_error": repr(exc)}
        timings["screenshot_s"] = time.monotonic() - started
        (artifacts_dir() / "airflow-ui-timings.json").write_text(json.dumps(
            {"dag_id": DAG_ID, "tasks": len(task_ids), "state": state, "parallelism": cfg.parallelism,
             **{k: round(v, 1) for k, v in timings.items()}}, indent=2))
        print(f"local Airflow: started in {timings['start_s']:.0f} s; {DAG_ID} backfill of {len(nights)} nights "
              f"({len(task_ids)} tasks each) {state} in {timings['run_s']:.0f} s; screenshot {shot}")

        assert state == "success", f"{DAG_ID} backfill runs {run_ids} ended {state}\n{diagnostics}"
        assert shot.stat().st_size > 20_000  # a rendered grid, not a blank page
        assert page["url"].endswith(f"/dags/{DAG_ID}/runs/{run_id}"), page["url"]  # past the login form
        assert page["dag_id_shown"] and page["run_state"] == "Success", page
        assert page["missing_cells"] == [], page  # every task instance has its square in the grid
        assert docs_page["graph_shown"] and docs_page["nav_shown"], docs_page  # inside the Airflow UI
        assert docs_page["url"].startswith(f"{cfg.base_url}/plugin/dbt-docs"), docs_page
        assert docs_shot.stat().st_size > 20_000

        # 4. Each night processed its own day: the marts end at the last night, the jobs ran for the two days,
        # and the current-only jobs skipped both past nights (and said so).
        with psycopg.connect(nightly_database, autocommit=True) as conn:
            ran = conn.execute("SELECT job_name, interval_start::date, status, stats->>'skipped' FROM job_runs "
                               "WHERE triggered_by = 'airflow'").fetchall()
            days = [d for (d,) in conn.execute(
                "SELECT DISTINCT usage_date FROM analytics.daily_usage_summary ORDER BY 1").fetchall()]
        assert {d for _, d, _, _ in ran} == set(nights), ran
        assert days[-1] == nights[-1] and nights[0] in days, days
        for job in CURRENT_ONLY:
            assert sorted((d, st) for j, d, st, _ in ran if j == job) == [(n, "skipped") for n in nights], job
        assert {j for j, _, st, _ in ran if st == "succeeded"} >= {"check_analytics_quality", "generate_invoices",
                                                              "ai_usage_costs", "dbt_docs"}  # dbt: Cosmos tasks

        # 5. The run-tracking listener (plugins/) recorded the run and each task's last try in the project's
        # database, from the real scheduler and task processes.
        # A mapped task with nothing to map over never starts (no listener call): it is skipped, not tracked.
        # Nor does an EmptyOperator (Cosmos's watcher adds one after its producer): the scheduler marks it
        # done without running it.
        started = {t for t, st in instances.items() if (st == "success" and t not in empty) or t in CURRENT_ONLY}
        assert {t for t, st in instances.items() if st != "success"} - CURRENT_ONLY <= {
            "transcribe_recordings.transcribe_batch"}, instances
        run_row, tasks = wait_for_tracking(nightly_database, run_id, started, timeout=60)
        assert run_row is not None and run_row[0] == "success" and run_row[1] is not None, run_row
        assert set(tasks) == started, sorted(started ^ set(tasks))
        assert {t for t, st in tasks.items() if st != "success"} == CURRENT_ONLY, tasks
        assert {tasks[t] for t in CURRENT_ONLY} == {"skipped"}


def wait_for_tracking(url: str, run_id: str, task_ids: set[str], timeout: float) -> tuple[Any, dict[str, str]]:
    """airflow_dag_runs' row for the run and {task_id: state of its last try} from airflow_task_runs, once
    the run's row says success and every task is there (the scheduler's write may trail the API)."""
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(url, autocommit=True) as conn:
            run_row = conn.execute("SELECT state, duration_seconds FROM airflow_dag_runs WHERE dag_id = %s "
                                   "AND run_id = %s", (DAG_ID, run_id)).fetchone()
            tasks = dict(conn.execute(
                "SELECT DISTINCT ON (task_id) task_id, state FROM airflow_task_runs WHERE dag_id = %s "
                "AND run_id = %s ORDER BY task_id, try_number DESC", (DAG_ID, run_id)).fetchall())
        done = run_row is not None and run_row[0] == "success" and task_ids <= set(tasks)
        if done or time.monotonic() > deadline:
            return run_row, tasks
        time.sleep(2)


def wait_for_dags(api: httpx.Client, expected: set[str], timeout: float) -> set[str]:
    """The DAG ids the API lists, once all expected ones are there (the dag-processor may still be parsing)."""
    deadline = time.monotonic() + timeout
    while True:
        loaded = {d["dag_id"] for d in api.get("/dags", params={"limit": 100}).raise_for_status().json()["dags"]}
        if expected <= loaded or time.monotonic() > deadline:
            return loaded
        time.sleep(3)


def wait_for_backfill(api: httpx.Client, backfill_id: int, expected_runs: int,
                      timeout: float) -> tuple[list[str], dict[str, str]]:
    """The backfill's run ids (oldest first) and their states, once every one of them has finished."""
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    run_ids: list[str] = []
    while time.monotonic() < deadline:
        try:
            runs = [r for r in api.get(f"/dags/{DAG_ID}/dagRuns", params={"limit": 100, "run_type": "backfill"})
                    .raise_for_status().json()["dag_runs"]]
        except httpx.TimeoutException:  # an api-server starved by the run's own tasks: ask again
            time.sleep(5)
            continue
        runs.sort(key=lambda r: r["logical_date"])
        run_ids = [r["dag_run_id"] for r in runs]
        states = {r["dag_run_id"]: r["state"] for r in runs}
        if len(runs) == expected_runs and all(s in ("success", "failed") for s in states.values()):
            break
        time.sleep(5)
    return run_ids, states


def failure_report(api: httpx.Client, home: Path, run_id: str) -> str:
    """Each failed task's log (from the task log files) and the scheduler's last lines: what CI shows."""
    tis = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 500}).json()["task_instances"]
    states: dict[str, list[str]] = {}
    for ti in tis:
        states.setdefault(str(ti["state"]), []).append(ti["task_id"])
    lines = [f"task states: { {s: len(ids) for s, ids in states.items()} }"]
    for ti in tis:
        if ti["state"] not in ("failed", "up_for_retry"):
            continue
        lines.append(f"===== {ti['task_id']} ({ti['state']}, try {ti['try_number']})")
        for log in sorted((home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={ti['task_id']}").glob("**/*.log")):
            lines.append(f"--- {log.name}")
            lines.extend(_readable_log_lines(log)[-80:])
    for name in ("scheduler", "dag-processor", "api-server"):
        path = home / "logs" / "components" / f"{name}.log"
        if path.exists():
            lines.append(f"===== {name} (last 30 lines)")
            lines.extend(path.read_text(errors="replace").splitlines()[-30:])
    report = "\n".join(lines)
    (artifacts_dir() / "airflow-ui-failure.txt").write_text(report)
    return report


def _readable_log_lines(path: Path) -> list[str]:
    """Airflow 3 task logs are JSON lines: show time, level and message (with any exception)."""
    out = []
    for raw in path.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(raw)
        except ValueError:
            out.append(raw)
            continue
        line = f"{rec.get('timestamp', '')[11:19]} {rec.get('level', '')[:5]:5} {rec.get('event', '')}"
        if rec.get("error_detail"):
            line += f"\n{json.dumps(rec['error_detail'], indent=1)[:4000]}"
        out.append(line)
    return out


# The dbt docs lineage graph of the marts and everything upstream of them (dbt's own selector syntax).
DOCS_GRAPH_SELECTOR = "+path:models/marts"


def docs_screenshot(base_url: str, password: str, path: Path, profile_dir: Path) -> dict[str, Any]:
    """The dbt docs page inside the Airflow UI (Browse -> dbt Docs): the marts' lineage graph, screenshot."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(profile_dir), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000})
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{base_url}/plugin/dbt-docs")
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/plugin/dbt-docs")
            docs = page.frame_locator("iframe").first
            docs.get_by_text("Welcome to the auto-generated documentation").wait_for()
            docs.locator(".launcher-btn").click()                        # dbt docs' lineage graph button
            include = docs.locator("input[ng-model='selectorService.selection.dirty.include']")
            include.fill(DOCS_GRAPH_SELECTOR)
            docs.locator("#submit-graph-selection").click()
            docs.locator("canvas").first.wait_for()
            page.wait_for_timeout(4000)                                  # the graph's layout settles
            facts = {"url": page.url, "selector": include.input_value(),
                     "graph_shown": docs.locator("canvas").count() > 0,
                     "nav_shown": page.get_by_text("Browse").first.is_visible()}
            page.screenshot(path=str(path))
            return facts
        finally:
            browser.close()


def grid_screenshot(base_url: str, password: str, run_id: str, task_ids: list[str], path: Path,
                    profile_dir: Path) -> dict[str, Any]:
    """Log in through the UI's own form, open the run in the grid with every group expanded, screenshot."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # A persistent context is how Playwright takes a fresh --user-data-dir of our choosing.
        # The grid renders only the rows its box shows (a virtual list): a window tall enough for every
        # task's row is what lets each square be found, and the full-page screenshot show them all.
        height = max(1400, GRID_CHROME_PX + GRID_ROW_PX * len(task_ids))
        browser = pw.chromium.launch_persistent_context(
            str(profile_dir), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": height})
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{base_url}/dags/{DAG_ID}/runs/{run_id}")
            page.get_by_label("Username").fill("admin")  # the UI sends an anonymous visitor to its login form
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"**/dags/{DAG_ID}/runs/{run_id}")
            page.get_by_test_id("expand-all-button").click()
            cells = {t: page.get_by_test_id(f"grid-{run_id}-{t}") for t in task_ids}
            cells[task_ids[-1]].wait_for()
            page.wait_for_load_state("networkidle")
            run_state = page.get_by_test_id("state-badge").first.inner_text().strip()
            facts = {
                "url": page.url,
                "dag_id_shown": page.get_by_text(DAG_ID, exact=True).first.is_visible(),
                "run_state": run_state,
                "missing_cells": [t for t, cell in cells.items() if cell.count() == 0],
            }
            page.screenshot(path=str(path), full_page=True)
            return facts
        finally:
            browser.close()
