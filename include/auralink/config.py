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


def parse_setting(raw: str, default: object) -> object:
    """Parse an environment value into the type of a setting's default (bool, int, float, Decimal,
    comma-separated tuple, or str). Raises ValueError when it does not parse."""
    from decimal import Decimal, InvalidOperation

    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(raw)
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, Decimal):
        try:
            return Decimal(raw)
        except InvalidOperation:
            raise ValueError(raw) from None
    if isinstance(default, tuple):
        items = [x.strip() for x in raw.split(",") if x.strip()]
        if default and isinstance(default[0], int):
            return tuple(int(x) for x in items)
        return tuple(items)
    return raw


def settings_from_env(cls, prefix: str, **overrides):
    """A settings dataclass with each field overridable by ``<prefix><FIELD_NAME>`` in the environment."""
    import dataclasses

    values = {}
    for f in dataclasses.fields(cls):
        raw = env(prefix + f.name.upper())
        if raw is None:
            continue
        try:
            values[f.name] = parse_setting(raw, f.default)
        except ValueError:
            raise ValueError(f"{prefix}{f.name.upper()}={raw!r} is not a valid {type(f.default).__name__}") from None
    return cls(**{**values, **overrides})
