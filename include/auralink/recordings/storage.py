"""Where a recording's audio lives, and getting it into a local file.

``storage_uri`` is a ``file://`` URL or a plain local path (the seed and on-premise installs), or any
fsspec URL (``s3://``, ``gs://``, ``memory://``...) when the matching fsspec backend is installed;
``AURALINK_STORAGE_OPTIONS`` (JSON) is passed to fsspec for credentials and endpoints, so nothing
secret is stored in the URI or logged.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

from auralink import config


class RecordingFileError(RuntimeError):
    """The recording's audio cannot be used; the message is the per-item failure reason."""


class RecordingMissing(RecordingFileError):
    pass


class RecordingTooLarge(RecordingFileError):
    pass


class RecordingEmpty(RecordingFileError):
    pass


class UnsupportedStorage(RecordingFileError):
    pass


DEFAULT_MAX_BYTES = 512 * 1024 * 1024
# Object stores recordings live in (and memory://, for tests). fsspec knows many more (ftp, http, sftp...),
# and would happily resolve and dial any host a storage_uri names; those are refused before any network
# call. AURALINK_STORAGE_SCHEMES (comma-separated) replaces the list.
DEFAULT_SCHEMES = ("file", "s3", "gs", "gcs", "az", "abfs", "memory")


def supported_schemes() -> tuple[str, ...]:
    raw = config.env("AURALINK_STORAGE_SCHEMES")
    return tuple(s.strip().lower() for s in raw.split(",") if s.strip()) if raw else DEFAULT_SCHEMES


def check_scheme(storage_uri: str) -> str:
    """The URI's scheme if recordings may be read from it; UnsupportedStorage (no network call) if not."""
    if not isinstance(storage_uri, str) or not storage_uri or "\x00" in storage_uri:
        raise UnsupportedStorage(f"storage_uri {str(storage_uri)[:80]!r} is not a path or URL")
    try:
        scheme = _scheme(storage_uri)
    except ValueError:
        raise UnsupportedStorage(f"storage_uri {storage_uri[:80]!r} is not a valid URL") from None
    if len(scheme) == 1 and os.name == "nt":
        return "file"   # a Windows drive letter
    allowed = supported_schemes()
    if scheme not in allowed:
        raise UnsupportedStorage(f"unsupported storage scheme {scheme}:// for {storage_uri[:80]!r} "
                                 f"(supported: {', '.join(allowed)}; AURALINK_STORAGE_SCHEMES)")
    return scheme


def max_recording_bytes() -> int:
    """Largest file the batch will fetch and decode (AURALINK_MAX_RECORDING_BYTES, default 512 MiB)."""
    return int(config.env("AURALINK_MAX_RECORDING_BYTES") or DEFAULT_MAX_BYTES)


def local_path(storage_uri: str) -> Path | None:
    """The local file a ``file://`` URI or plain path names; None for remote (fsspec) URIs."""
    parts = urlsplit(storage_uri)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme == "" or (len(parts.scheme) == 1 and os.name == "nt"):
        return Path(storage_uri)
    return None


def _storage_options() -> dict:
    raw = config.env("AURALINK_STORAGE_OPTIONS")
    if not raw:
        return {}
    try:
        options = json.loads(raw)
    except ValueError:
        raise ValueError("AURALINK_STORAGE_OPTIONS must be a JSON object") from None
    if not isinstance(options, dict):
        raise ValueError("AURALINK_STORAGE_OPTIONS must be a JSON object")  # noqa: TRY004 - a config error
    return options


def _scheme(storage_uri: str) -> str:
    return (urlsplit(storage_uri).scheme or "file").lower()


def _check_size(size: int | None, storage_uri: str, limit: int) -> None:
    if size is None:
        return
    if size == 0:
        raise RecordingEmpty("recording file is empty (0 bytes)")
    if size > limit:
        raise RecordingTooLarge(f"recording file is {size:,} bytes, over the {limit:,}-byte limit "
                                "(AURALINK_MAX_RECORDING_BYTES)")


def open_local(storage_uri: str, *, max_bytes: int | None = None) -> tuple[Path, bool]:
    """A local file with the recording's bytes, and whether it is a temporary copy the caller must delete.

    Local files are used in place (no copy); remote ones are downloaded to a temp file.
    """
    limit = max_bytes if max_bytes is not None else max_recording_bytes()
    check_scheme(storage_uri)
    path = local_path(storage_uri)
    if path is not None:
        if not path.is_file():
            raise RecordingMissing(f"recording file not found: {path}")
        _check_size(path.stat().st_size, storage_uri, limit)
        return path, False
    suffix = Path(urlsplit(storage_uri).path).suffix
    fd, tmp = tempfile.mkstemp(prefix="auralink-rec-", suffix=suffix)
    os.close(fd)
    try:
        fetch(storage_uri, Path(tmp), max_bytes=limit)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp), True


def fetch(storage_uri: str, out: Path, *, max_bytes: int | None = None) -> Path:
    """Copy the recording to ``out`` (created atomically: a partial download never looks complete)."""
    limit = max_bytes if max_bytes is not None else max_recording_bytes()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    check_scheme(storage_uri)
    path = local_path(storage_uri)
    if path is not None:
        if not path.is_file():
            raise RecordingMissing(f"recording file not found: {path}")
        _check_size(path.stat().st_size, storage_uri, limit)
        shutil.copyfile(path, partial)
    else:
        import fsspec

        scheme = _scheme(storage_uri)
        try:
            fs, remote = fsspec.core.url_to_fs(storage_uri, **_storage_options())
        except (ImportError, ValueError) as exc:
            raise RecordingFileError(f"cannot read {scheme}:// recordings here: {exc}") from None
        try:
            info = fs.info(remote)
        except FileNotFoundError:
            raise RecordingMissing(f"recording not found in {scheme}:// storage") from None
        _check_size(info.get("size"), storage_uri, limit)
        copied = 0
        with fs.open(remote, "rb") as src, open(partial, "wb") as dst:
            while chunk := src.read(1 << 20):
                copied += len(chunk)
                if copied > limit:
                    break
                dst.write(chunk)
        if copied > limit:
            partial.unlink(missing_ok=True)
            _check_size(copied, storage_uri, limit)
    os.replace(partial, out)
    return out
