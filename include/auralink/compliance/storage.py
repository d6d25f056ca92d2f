"""Where archives and exports go: a local folder by default, any fsspec URL (s3://, gs://, ...) where
configured. Writes go to a temporary name and are renamed into place, so a reader (or a re-run after
a crash) never takes a half-written file for a finished one.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import IO

from auralink import config


def archive_root() -> str:
    return (config.env("AURALINK_ARCHIVE_URL") or str(config.data_dir("archives"))).rstrip("/")


def export_root() -> str:
    return (config.env("AURALINK_EXPORT_URL") or str(config.data_dir("exports"))).rstrip("/")


def join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *[p.strip("/") for p in parts]])


class StorageUnavailable(RuntimeError):
    """The configured storage cannot be used at all (unknown scheme, backend not installed, not writable,
    endpoint unreachable): a deployment problem every item would hit, not a fault of one item."""


def _fs(url: str):
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise StorageUnavailable(f"cannot use storage {url}: {exc}") from None
    return fs, path


@contextlib.contextmanager
def atomic_writer(url: str) -> Iterator[IO[bytes]]:
    """A binary file handle; the object appears at ``url`` only when the block completes."""
    fs, path = _fs(url)
    parent = path.rsplit("/", 1)[0]
    try:
        if parent:
            fs.makedirs(parent, exist_ok=True)
        tmp = path + ".partial"
        fh = fs.open(tmp, "wb")
    except OSError as exc:   # also what fsspec backends raise for an unreachable endpoint
        raise StorageUnavailable(f"cannot write {url}: {exc.__class__.__name__}: {exc}") from None
    with fh:
        yield fh
    fs.mv(tmp, path)


def write_bytes(url: str, data: bytes) -> str:
    with atomic_writer(url) as fh:
        fh.write(data)
    return hashlib.sha256(data).hexdigest()


def open_read(url: str) -> IO[bytes]:
    fs, path = _fs(url)
    return fs.open(path, "rb")


def read_bytes(url: str) -> bytes:
    with open_read(url) as fh:
        return fh.read()


def exists(url: str) -> bool:
    fs, path = _fs(url)
    return fs.exists(path)


def remove(url: str) -> bool:
    """Delete one object; False when it was not there (already deleted: fine on a re-run)."""
    fs, path = _fs(url)
    if not fs.exists(path):
        return False
    fs.rm(path)
    return True


def file_sha256(url: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open_read(url) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def uri_to_url(uri: str) -> str:
    """A recording's storage_uri (file:///..., s3://...) as something fsspec opens."""
    return uri
