"""Settings from the environment (Airflow connections and Kubernetes Secrets both arrive as env vars).

Nothing here is ever logged whole: use :func:`redact_url` before printing a database URL.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def env(name: str, default: str | None = None) -> str | None:
    """An environment variable, with empty strings treated as unset."""
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def project_root() -> Path:
    """The checkout this package was installed from (editable install), else the working directory."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "dags").is_dir():
            return parent
    return Path.cwd()


def home() -> Path:
    """Where the project keeps local state: the embedded database, keys, archives, exports.

    AURALINK_HOME, else ``.auralink/`` in the project root (git-ignored).
    """
    configured = env("AURALINK_HOME")
    path = Path(configured) if configured else project_root() / ".auralink"
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir(name: str) -> Path:
    """A named folder under :func:`home` (recordings, archives, exports, reports...)."""
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``: safe to log."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{netloc}", parts.path, parts.query, parts.fragment))
