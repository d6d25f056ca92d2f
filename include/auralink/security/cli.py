"""``auralink security``: run detection over a range, show the thresholds in force."""

from __future__ import annotations

import argparse
import dataclasses
import json


def _settings(args: argparse.Namespace) -> int:
    from auralink.security.settings import ENV_PREFIX, SecuritySettings

    s = SecuritySettings.from_env()
    print(json.dumps({f"{f.name} ({ENV_PREFIX}{f.name.upper()})": getattr(s, f.name) for f in dataclasses.fields(s)},
                     indent=2))
    return 0


def _detect(args: argparse.Namespace) -> int:
    from auralink.jobs import run_job

    params = {k: v for k, v in (("since", args.since), ("until", args.until), ("rules", args.rules)) if v}
    print(json.dumps(run_job("detect_security_events", params), indent=2, default=str))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    sec = subparsers.add_parser("security", help="security events from the audit log").add_subparsers(
        dest="security_command", required=True)
    sec.add_parser("settings", help="detection thresholds in force (and their env variables)").set_defaults(func=_settings)
    p = sec.add_parser("detect", help="run detection (default: from the watermark to now)")
    p.add_argument("--since", help="ISO timestamp")
    p.add_argument("--until", help="ISO timestamp")
    p.add_argument("--rules", help="comma-separated rule names")
    p.set_defaults(func=_detect)
