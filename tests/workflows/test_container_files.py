"""The Dockerfile and docker-compose.yml, checked as far as a machine without a Docker daemon can:
the image installs exactly as CI does, runs as non-root, and the compose file parses and holds no secret."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            out.append((instruction.upper(), rest.strip()))
    return out


def install_commands(script: str) -> list[str]:
    return re.findall(r"(?:bash\s+)?(?:\./)?scripts/install\.sh", script)


def test_image_is_python_311_slim_and_installs_with_the_ci_install_script():
    steps = dockerfile_instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    runs = [args for ins, args in steps if ins == "RUN"]
    installs = [r for r in runs if install_commands(r)]
    assert len(installs) == 1, "exactly one RUN installs the Python environment, through scripts/install.sh"
    assert not any(re.search(r"\bpip3? install\b|\buv pip\b", r) for r in runs), "no second way of installing"
    copied = " ".join(args for ins, args in steps if ins == "COPY")
    assert "requirements/" in copied and "scripts/install.sh" in copied
    # The lock files are in place before the install runs.
    order = [args for ins, args in steps if ins in ("COPY", "RUN")]
    assert order.index(next(a for a in order if a.startswith("requirements/"))) < order.index(installs[0])


def test_ci_installs_through_the_same_script():
    """.ci/run -> scripts/test.sh -> scripts/install.sh: the Dockerfile and CI share one install path."""
    ci = (ROOT / ".ci" / "run").read_text()
    test_sh = (ROOT / "scripts" / "test.sh").read_text()
    assert install_commands(ci) or ("scripts/test.sh" in ci and install_commands(test_sh))
    install = (ROOT / "scripts" / "install.sh").read_text()
    assert "requirements/${AURALINK_LOCK:-full}.lock" in install


def test_image_has_the_system_packages_a_non_root_user_and_the_cli_entrypoint():
    steps = dockerfile_instructions()
    apt = next(args for ins, args in steps if ins == "RUN" and "apt-get install" in args)
    assert {"espeak-ng", "ffmpeg"} <= set(shlex.split(apt.replace("&&", " ")))
    user = [args for ins, args in steps if ins == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    assert user.split(":")[0] == "10001", "the Argo pods run as uid 10001 (workflows/common.py RUN_AS_USER)"
    assert [args for ins, args in steps if ins == "ENTRYPOINT"] == ['["auralink"]']


def test_everything_the_dockerfile_copies_exists_and_is_not_docker_ignored():
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith(("#", "!"))}
    for ins, args in dockerfile_instructions():
        if ins == "COPY":
            *sources, _dest = args.split()
            for src in sources:
                assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
                assert src.rstrip("/") not in ignored, f"COPY {src}: excluded by .dockerignore"
    assert {".env", ".git", ".venv", ".auralink"} <= ignored


def test_workflow_pods_run_as_the_image_user():
    from workflows.common import RUN_AS_USER

    assert RUN_AS_USER == 10001


def test_compose_runs_airflow_on_postgres_16_from_the_project_image():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["postgres"]["image"] == "postgres:16"
    commands = {}
    for name, service in services.items():
        if service.get("entrypoint") == ["airflow"]:
            assert service["build"]["dockerfile"] == "Dockerfile" and service["build"]["context"] == "."
            assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
            assert service["env_file"] == ".env"
            env = service["environment"]
            assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
            assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")
            assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
            commands[name] = service["command"][0]
    assert sorted(commands.values()) == ["api-server", "dag-processor", "scheduler"]
    assert "airflow db migrate" in services["init"]["command"][0]
    assert "auralink db migrate" in services["init"]["command"][0]


def test_compose_holds_no_secret_value_and_env_example_lists_every_variable():
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|KEY", key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+(:\?[^}]*)?\}", str(value)), f"{name}: {key} is a literal"
            # URLs carry credentials only through ${...} interpolation.
            for creds in re.findall(r"://([^@/]+)@", str(value)):
                assert re.fullmatch(r"(\$\{[^}]+\}:?)+", creds), f"{name}: {key} has literal credentials"
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text)) - {"AURALINK_IMAGE"}
    example = (ROOT / ".env.example").read_text()
    declared = {line.split("=", 1)[0] for line in example.splitlines() if re.match(r"[A-Z0-9_]+=", line)}
    assert used <= declared, f"missing from .env.example: {sorted(used - declared)}"
    for line in example.splitlines():
        if re.match(r"[A-Z0-9_]*(PASSWORD|SECRET|KEY)[A-Z0-9_]*=", line):
            assert line.split("=", 1)[1] == "", f".env.example must not carry a value: {line}"
