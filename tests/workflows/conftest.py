"""Fixtures for the Argo workflow tests: the generated documents and Argo's JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
SCHEMA_NAME = "argo-workflows-v4.1.2.schema.json"


@pytest.fixture(scope="session")
def rendered() -> dict[str, str]:
    """File name -> YAML text, as the modules generate it with the default image (never written)."""
    from workflows.common import Settings, default_image
    from workflows.generate import render

    return render(Settings(image=default_image()))


@pytest.fixture(scope="session")
def documents(rendered: dict[str, str]) -> dict[str, dict]:
    import yaml

    return {name: yaml.safe_load(text) for name, text in rendered.items()}


def _shared_dir(config: pytest.Config) -> Path | None:
    """tests/conftest.py's shared_dir(): both conftest modules are named ``conftest``, so find it by file."""
    for plugin in config.pluginmanager.get_plugins():
        if Path(getattr(plugin, "__file__", "") or "").resolve() == ROOT_CONFTEST:
            return plugin.shared_dir()
    raise RuntimeError(f"{ROOT_CONFTEST} is not loaded")


@pytest.fixture(scope="session")
def argo_validator(pytestconfig: pytest.Config):
    """A jsonschema validator for Argo's published schema, read from ../shared/argo (never copied here)."""
    import jsonschema

    base = _shared_dir(pytestconfig)
    path = base / "argo" / SCHEMA_NAME if base else None
    if path is None or not path.is_file():
        pytest.skip(f"Argo's JSON schema is not here: expected ../shared/argo/{SCHEMA_NAME} beside the project "
                    "(or AURALINK_SHARED_DIR); it is not vendored into the repository")
    schema = json.loads(Path(path).read_text())
    return jsonschema.validators.validator_for(schema)(schema)
