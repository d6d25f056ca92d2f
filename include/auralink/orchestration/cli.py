"""`auralink airflow ...`: a local Airflow with the UI on the project's DAGs (see docs/local-airflow.md)."""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("airflow", help="local Airflow with the UI: up, status, password, stop")
    sub = parser.add_subparsers(dest="airflow_command", required=True)

    up = sub.add_parser("up", help="start api-server, scheduler and dag-processor; Ctrl-C stops them")
    _home_arg(up)
    up.add_argument("--port", type=int, default=int(os.environ.get("AURALINK_AIRFLOW_PORT") or 8080),
                    help="api-server port (default 8080, or AURALINK_AIRFLOW_PORT)")
    up.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    up.add_argument("--parallelism", type=int, default=None,
                    help="task slots (default: two per CPU core, 2 to 32)")
    up.add_argument("--metadata-url", default=None,
                    help="Airflow's metadata database (default: database 'airflow' beside the project's)")
    up.add_argument("--metrics-endpoint", default=None,
                    help="OTLP/HTTP collector for Airflow's and the jobs' metrics, e.g. http://127.0.0.1:4318 "
                         "(default: OTEL_EXPORTER_OTLP_ENDPOINT; unset: no metrics)")
    up.add_argument("--timeout", type=float, default=180, help="seconds to wait for a healthy start")
    up.set_defaults(func=_up)

    status = sub.add_parser("status", help="health of a running local Airflow")
    _home_arg(status)
    status.set_defaults(func=_status)

    password = sub.add_parser("password", help="print the generated admin password")
    _home_arg(password)
    password.set_defaults(func=_password)

    stop = sub.add_parser("stop", help="stop a local Airflow started by `auralink airflow up` elsewhere")
    _home_arg(stop)
    stop.set_defaults(func=_stop)


def _home_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", type=Path, default=None,
                        help="AIRFLOW_HOME (default: <AURALINK_HOME>/airflow, i.e. .auralink/airflow)")


def _default_home(args: argparse.Namespace) -> Path:
    from auralink import config

    return (args.home or config.home() / "airflow").resolve()


def _up(args: argparse.Namespace) -> int:
    from auralink.orchestration.local_airflow import LocalAirflowConfig, run_foreground, running_instance

    home = _default_home(args)
    other = running_instance(home)
    if other is not None:
        from auralink.cli import CliError

        raise CliError(f"a local Airflow already runs from {home} (pid {other['pid']}, {other['url']})")
    cfg = LocalAirflowConfig.for_project(home=home, port=args.port, host=args.host,
                                         metadata_url=args.metadata_url, parallelism=args.parallelism,
                                         metrics_endpoint=args.metrics_endpoint)
    return run_foreground(cfg, timeout=args.timeout)


def _status(args: argparse.Namespace) -> int:
    from auralink.orchestration.local_airflow import fetch_health, running_instance, unhealthy_components

    home = _default_home(args)
    state = running_instance(home)
    if state is None:
        print(f"no local Airflow running from {home}")
        return 1
    health = fetch_health(state["url"])
    print(f"{state['url']} (pid {state['pid']}, started {state['started_at']})")
    if health is None:
        print("api-server: not answering")
        return 1
    print(json.dumps(health, indent=2))
    return 1 if unhealthy_components(health) else 0


def _password(args: argparse.Namespace) -> int:
    from auralink.cli import CliError
    from auralink.orchestration.local_airflow import LocalAirflowError, read_admin_password

    try:
        print(read_admin_password(_default_home(args)))  # asked for explicitly, to the terminal only; never logged
    except LocalAirflowError as exc:
        raise CliError(str(exc)) from None
    return 0


def _stop(args: argparse.Namespace) -> int:
    from auralink.orchestration.local_airflow import running_instance

    home = _default_home(args)
    state = running_instance(home)
    if state is None:
        print(f"no local Airflow running from {home}")
        return 0
    os.kill(int(state["pid"]), signal.SIGTERM)  # `up` stops its components in order, then exits
    print(f"asked the local Airflow (pid {state['pid']}) to stop")
    return 0
