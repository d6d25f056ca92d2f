"""AES-256-GCM for secrets at rest (SSO client secrets, private keys, API keys).

Envelope: ``0x01 | 12-byte random nonce | ciphertext+tag``. The associated data binds a ciphertext to
its column (``"sso_configs.client_secret"``), so a value copied into another column fails to decrypt.
The 32-byte key comes from AURALINK_SECRET_KEY (base64) or the file named by AURALINK_SECRET_KEY_FILE;
for the embedded development database a key file is created under AURALINK_HOME on first use.
"""

from __future__ import annotations

import base64
import os
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from auralink import config

_VERSION = b"\x01"
_NONCE_BYTES = 12


class SecretKeyError(RuntimeError):
    pass


def _decode_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise SecretKeyError("AURALINK_SECRET_KEY must be base64 of 32 random bytes") from None
    if len(key) != 32:
        raise SecretKeyError(f"AURALINK_SECRET_KEY must decode to 32 bytes for AES-256, not {len(key)}")
    return key


def load_key() -> bytes:
    value = config.env("AURALINK_SECRET_KEY")
    if value:
        return _decode_key(value)
    key_file = config.env("AURALINK_SECRET_KEY_FILE")
    if key_file:
        return _decode_key(open(key_file, encoding="ascii").read())
    if config.env("DATABASE_URL"):
        raise SecretKeyError(
            "no encryption key: set AURALINK_SECRET_KEY (base64 of 32 bytes) or AURALINK_SECRET_KEY_FILE"
        )
    # Embedded development database only: a local key, readable by the owner alone.
    path = config.home() / "secret.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.b64encode(secrets.token_bytes(32)).decode())
    return _decode_key(path.read_text())


def generate_key() -> str:
    """A new key, base64, for AURALINK_SECRET_KEY."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def encrypt(plaintext: str, context: str, key: bytes | None = None) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(key or load_key()).encrypt(nonce, plaintext.encode(), context.encode())
    return _VERSION + nonce + sealed


def decrypt(envelope: bytes, context: str, key: bytes | None = None) -> str:
    envelope = bytes(envelope)
    if not envelope.startswith(_VERSION) or len(envelope) < 1 + _NONCE_BYTES + 16:
        raise ValueError("not an AuraLink AES-GCM envelope")
    nonce, sealed = envelope[1 : 1 + _NONCE_BYTES], envelope[1 + _NONCE_BYTES :]
    return AESGCM(key or load_key()).decrypt(nonce, sealed, context.encode()).decode()
