"""The Dockerfile and docker-compose.yml, checked as far as a machine without a Docker daemon can:
the image installs exactly as CI does and runs as non-root; the compose file parses, interpolates as
`docker compose config` does with a filled .env, runs the four Airflow components with health checks after
the init service, sets only environment variables the project or Airflow reads, keeps data and archives on
volumes, and holds no secret."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from auralink.orchestration.local_airflow import PRELOADING_EXECUTOR

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


# --------------------------------------------------------------------------------------------------------
# docker-compose.yml

AIRFLOW_COMPONENTS = {"api-server", "scheduler", "dag-processor", "triggerer"}
JOB_TYPES = {"scheduler": "SchedulerJob", "dag-processor": "DagProcessorJob", "triggerer": "TriggererJob"}
POSTGRES_IMAGE_VARIABLES = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "POSTGRES_INITDB_ARGS", "PGDATA"}


class InterpolationError(ValueError):
    pass


_VAR = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])"
                  r"(?P<arg>(?:[^{}]|\{[^{}]*\})*))?\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution (compose-spec "Interpolation"), applied to every string in the
    parsed file: $$ escapes, ${VAR}, $VAR, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error},
    ${VAR:+replacement}, ${VAR+replacement}; unset without a default is an empty string."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(m: re.Match) -> str:
        if m["escaped"]:
            return "$"
        name = m["braced"] or m["plain"]
        op, arg = m["op"], interpolate(m["arg"] or "", env)
        current = env.get(name)
        unset_or_empty = not current
        missing = unset_or_empty if op and op.startswith(":") else current is None
        if op in (":-", "-"):
            return arg if missing else current or ""
        if op in (":?", "?"):
            if missing:
                raise InterpolationError(f"required variable {name} is missing a value: {arg}")
            return current or ""
        if op in (":+", "+"):
            return "" if missing else arg
        return current or ""

    return _VAR.sub(substitute, value)


def parse_env_file(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip().strip("'\"")
    return out


def filled_env() -> dict[str, str]:
    """.env.example with every empty value filled, as a user is told to (test values, not secrets)."""
    env = parse_env_file((ROOT / ".env.example").read_text())
    for key, value in env.items():
        if not value:
            env[key] = f"test-{key.lower().replace('_', '-')}"
    env["AURALINK_ARCHIVE_URL"] = ""  # documented as "empty for the volume": keep it empty
    return env


def raw_compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def compose_config(env: dict[str, str] | None = None) -> dict:
    """What `docker compose config` prints: YAML merge keys resolved (by the YAML loader), variables
    substituted from .env."""
    return interpolate(raw_compose(), filled_env() if env is None else env)


def airflow_services(services: dict) -> dict[str, dict]:
    return {name: s for name, s in services.items() if s.get("entrypoint") == ["airflow"]}


def container_env(service: dict, env_file: dict[str, str]) -> dict[str, str]:
    """The environment a container gets: env_file values, overridden by `environment`."""
    env = dict(env_file) if service.get("env_file") == ".env" else {}
    env.update({k: str(v) for k, v in (service.get("environment") or {}).items()})
    return env


def project_env_names() -> tuple[set[str], set[str]]:
    """(variable names the auralink package reads, prefixes its settings dataclasses read)."""
    names: set[str] = set()
    prefixes: set[str] = set()
    for path in (ROOT / "include" / "auralink").rglob("*.py"):
        text = path.read_text()
        names |= set(re.findall(r"\benv\(\s*\"([A-Z][A-Z0-9_]*)\"", text))
        names |= set(re.findall(r"environ(?:\.get|\.setdefault|\.pop)?\(\s*\"([A-Z][A-Z0-9_]*)\"", text))
        names |= set(re.findall(r"environ\[\s*\"([A-Z][A-Z0-9_]*)\"\s*\]", text))
        names |= set(re.findall(r"getenv\(\s*\"([A-Z][A-Z0-9_]*)\"", text))
        prefixes |= set(re.findall(r"settings_from_env\(\s*\w+,\s*\"([A-Z][A-Z0-9_]*_)\"", text))
        prefixes |= set(re.findall(r"ENV_PREFIX\s*=\s*\"([A-Z][A-Z0-9_]*_)\"", text))
    return names, prefixes


def is_airflow_option(name: str) -> bool:
    """AIRFLOW__SECTION__KEY names an option Airflow (or Cosmos, which reads its own section) defines."""
    match = re.fullmatch(r"AIRFLOW__([A-Z0-9_]+?)__([A-Z0-9_]+)", name)
    if not match:
        return False
    section, key = match[1].lower(), match[2].lower()
    if section == "cosmos":
        import cosmos

        package = Path(cosmos.__file__).parent  # its settings, and the options its plugin reads
        return any(f'"{key}"' in f.read_text() for f in (package / "settings.py", *(package / "plugin").glob("*.py")))
    from airflow.configuration import conf

    return key in conf.configuration_description.get(section, {}).get("options", {})


def test_every_service_runs_the_project_image_or_a_pinned_one():
    services = raw_compose()["services"]
    assert services["postgres"]["image"] == "postgres:16"
    for name, service in services.items():
        if name == "postgres":
            continue
        assert service["build"]["context"] == "." and service["build"]["dockerfile"] == "Dockerfile", name
        assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        assert service["image"] == "${AURALINK_IMAGE:-ghcr.io/auralink/data-platform:local}", name
    for name, service in compose_config()["services"].items():
        assert service.get("image") or service.get("build"), f"{name}: neither an image nor a build"


def test_the_four_airflow_components_run_after_init_on_postgres():
    services = compose_config()["services"]
    components = {}
    for name, service in airflow_services(services).items():
        components[service["command"][0]] = name
        assert service["env_file"] == ".env"
        env = service["environment"]
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
        assert env["AIRFLOW__CORE__EXECUTOR"] == PRELOADING_EXECUTOR
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy", name
        assert service["depends_on"]["init"]["condition"] == "service_completed_successfully", name
        assert service["restart"] == "unless-stopped", name
    assert set(components) == AIRFLOW_COMPONENTS
    # Every component talks to the execution API of the api-server service, on its port.
    api = services[components["api-server"]]
    port = api["command"][api["command"].index("--port") + 1]
    for service in airflow_services(services).values():
        assert service["environment"]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == \
            f"http://{components['api-server']}:{port}/execution/"
    # Tasks run in the scheduler (LocalExecutor) and need that API: it starts once the api-server is healthy.
    assert services[components["scheduler"]]["depends_on"][components["api-server"]]["condition"] == \
        "service_healthy"


def test_init_migrates_both_schemas_and_creates_the_transcription_pool():
    from auralink.recordings.orchestration import TRANSCRIPTION_POOL

    init = compose_config()["services"]["init"]
    script = init["command"][0]
    steps = [step.strip() for step in script.split("&&")]
    assert "CREATE DATABASE airflow" in steps[0]
    assert steps[1:4] == ["auralink db migrate", "airflow db migrate",
                          f'airflow pools set {TRANSCRIPTION_POOL} 2 "Parallel speech-to-text"']
    assert init["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert init.get("restart") == "no" and "healthcheck" not in init  # one-off: it exits
    # It migrates the same two databases the components use.
    component = next(iter(airflow_services(compose_config()["services"]).values()))
    for key in ("DATABASE_URL", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        assert init["environment"][key] == component["environment"][key]


def test_every_long_running_service_has_a_health_check():
    from airflow.cli import cli_config

    accepted_job_types = set(cli_config.ARG_JOB_TYPE_FILTER.kwargs["choices"])
    services = compose_config()["services"]
    for name, service in services.items():
        if service.get("restart") == "no":
            continue
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name}: no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        for key in ("interval", "timeout", "retries"):
            assert key in check, f"{name}: healthcheck without {key}"
        command = service.get("command") or [""]
        if command[0] in JOB_TYPES:
            test = check["test"]
            assert test[:4] == ["CMD", "airflow", "jobs", "check"], name
            job_type = test[test.index("--job-type") + 1]
            assert job_type == JOB_TYPES[command[0]] and job_type in accepted_job_types, name
            assert "--local" in test, f"{name}: must check the job of this container, not any"
    api = next(s for s in services.values() if (s.get("command") or [""])[0] == "api-server")
    assert "/api/v2/monitor/health" in " ".join(api["healthcheck"]["test"])
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready -U ${POSTGRES_USER} -d auralink"


def test_data_and_archive_paths_are_on_named_volumes():
    compose = compose_config()
    declared = set(compose["volumes"])
    services = compose["services"]
    steps = dockerfile_instructions()
    prepared = " ".join(args for ins, args in steps if ins == "RUN" and "mkdir" in args)
    owned = [token for part in prepared.split("&&") if "chown -R" in part
             for token in part.split() if token.startswith("/")]
    for name, service in [*airflow_services(services).items(), ("init", services["init"])]:
        env = container_env(service, filled_env())
        home = env["AURALINK_HOME"]
        archives = env.get("AURALINK_ARCHIVE_URL") or f"{home}/archives"
        mounts = dict(reversed(volume.split(":")[:2]) for volume in service["volumes"])
        for path in (home, archives, "/opt/airflow/logs"):
            assert path in mounts, f"{name}: nothing mounted at {path}"
            assert mounts[path] in declared, f"{name}: {path} is not on a named volume"
            # Docker copies the image folder's owner into a fresh named volume: uid 10001 must own it.
            assert path in prepared and any(path == o or path.startswith(o + "/") for o in owned), \
                f"the Dockerfile does not create {path} for uid 10001"
        assert mounts[home] != mounts[archives], "archives get a volume of their own"
    assert services["postgres"]["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    # The archive path is where the archival job writes with this environment.
    from auralink.compliance import storage

    env = container_env(next(iter(airflow_services(services).values())), filled_env())
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AURALINK_HOME", "AURALINK_ARCHIVE_URL"):
            mp.setenv(key, env[key])
        assert storage.archive_root() == "/var/lib/auralink-archives"


def test_environment_names_are_read_by_the_project_or_airflow():
    """A misspelt variable is silently ignored by everyone: each name compose sets, or .env.example lists,
    must be one the auralink package reads, an Airflow option, the postgres image's, or used by compose."""
    project, prefixes = project_env_names()
    assert {"DATABASE_URL", "AURALINK_HOME", "AURALINK_SECRET_KEY", "AURALINK_ARCHIVE_URL"} <= project
    text = (ROOT / "docker-compose.yml").read_text()
    interpolated = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))

    def known(name: str) -> bool:
        return (name in project or any(name.startswith(p) for p in prefixes) or is_airflow_option(name)
                or name.startswith("AIRFLOW_CONN_"))  # Airflow connections: auralink_db, smtp_default, webhooks

    services = raw_compose()["services"]
    for name, service in services.items():
        for key in service.get("environment") or {}:
            if name == "postgres":
                assert key in POSTGRES_IMAGE_VARIABLES, f"postgres: {key}"
            else:
                assert known(key), f"{name}: {key} is read by neither the project nor Airflow"
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    for key in listed:
        assert known(key) or key in interpolated, f".env.example: {key} is used by nothing"
    assert not is_airflow_option("AIRFLOW__CORE__NO_SUCH_OPTION") and is_airflow_option("AIRFLOW__CORE__FERNET_KEY")


def test_compose_interpolates_with_a_filled_env_and_refuses_a_missing_secret():
    from auralink.db.connection import libpq_params, normalize_url

    env = filled_env()
    config = compose_config(env)
    dumped = yaml.safe_dump(config)
    assert "${" not in dumped.replace("${POSTGRES_USER}", ""), "an unresolved variable"
    from airflow.sdk import Connection
    from auralink.orchestration.connections import url_from_connection

    for name, service in airflow_services(config["services"]).items():
        e = service["environment"]
        params = libpq_params(normalize_url(e["DATABASE_URL"]))
        assert params == {"host": "postgres", "port": "5432", "user": env["POSTGRES_USER"],
                          "password": env["POSTGRES_PASSWORD"], "dbname": "auralink"}, name
        # Airflow's connection auralink_db (JSON form) names the same database.
        connection = Connection.from_json(e["AIRFLOW_CONN_AURALINK_DB"], conn_id="auralink_db")
        assert libpq_params(url_from_connection(connection)) == params, name
        assert e["AURALINK_SECRET_KEY"] == env["AURALINK_SECRET_KEY"]
        assert e["AIRFLOW__CORE__PLUGINS_FOLDER"] == "/app/plugins"
        assert e["AIRFLOW__CORE__DAGS_FOLDER"] == "/app/dags"
    assert config["services"]["postgres"]["ports"] == [f"127.0.0.1:{env['POSTGRES_HOST_PORT']}:5432"]
    assert config["services"]["init"]["image"] == env["AURALINK_IMAGE"]
    assert config["services"]["init"]["build"]["args"]["AURALINK_LOCK"] == env["AURALINK_LOCK"]

    # Without .env (or with a value left empty) compose stops and says which variable to set.
    for missing in ("POSTGRES_PASSWORD", "AURALINK_SECRET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET",
                    "AIRFLOW__CORE__FERNET_KEY"):
        with pytest.raises(InterpolationError, match=f"{missing}.*set {missing} in .env"):
            compose_config({**env, missing: ""})
    # Defaults apply when optional values are absent.
    bare = compose_config({k: env[k] for k in ("POSTGRES_USER", "POSTGRES_PASSWORD", "AURALINK_SECRET_KEY",
                                                "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY")})
    assert bare["services"]["postgres"]["ports"] == ["127.0.0.1:5433:5432"]
    assert bare["services"]["init"]["image"] == "ghcr.io/auralink/data-platform:local"
    assert bare["services"]["init"]["build"]["args"]["AURALINK_LOCK"] == "full"


def test_interpolation_follows_the_compose_rules():
    env = {"SET": "v", "EMPTY": ""}
    cases = {"$$HOME": "$HOME", "${SET}": "v", "$SET/x": "v/x", "${UNSET}": "", "${UNSET:-d}": "d",
             "${EMPTY:-d}": "d", "${EMPTY-d}": "", "${SET:+r}": "r", "${EMPTY:+r}": "", "${EMPTY+r}": "r",
             "${UNSET:-${SET}}": "v", "a${SET}b$${SET}": "avb${SET}"}
    for raw, expected in cases.items():
        assert interpolate(raw, env) == expected, raw
    with pytest.raises(InterpolationError, match="EMPTY"):
        interpolate("${EMPTY:?say so}", env)
    assert interpolate("${EMPTY?fine}", env) == ""


def test_the_plugins_and_dags_folders_are_in_the_image():
    steps = dockerfile_instructions()
    assert ("WORKDIR", "/app") in steps
    copied = {args.split()[0].rstrip("/") for ins, args in steps if ins == "COPY"}
    assert {"dags", "plugins", "include"} <= copied
    assert (ROOT / "plugins" / "auralink_run_tracking.py").is_file()
    env_lines = " ".join(args for ins, args in steps if ins == "ENV")
    assert "AIRFLOW__CORE__PLUGINS_FOLDER=/app/plugins" in env_lines


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
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    example = (ROOT / ".env.example").read_text()
    declared = {line.split("=", 1)[0] for line in example.splitlines() if re.match(r"[A-Z0-9_]+=", line)}
    assert used <= declared, f"missing from .env.example: {sorted(used - declared)}"
    for line in example.splitlines():
        if re.match(r"#?\s*[A-Z0-9_]*(PASSWORD|SECRET|KEY)[A-Z0-9_]*=", line):
            assert line.split("=", 1)[1] == "", f".env.example must not carry a value: {line}"
