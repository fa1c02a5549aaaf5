"""The hub's master key and what it protects.

The master key (32 random bytes) wraps every secret the hub stores (app secret keys,
package data keys) with AES-256-GCM, and derives, through HKDF, the Ed25519 key that
signs session tokens, so every node configured with the same master key signs and
verifies the same tokens without another secret to distribute. The embedded hub makes
one on first start (``<data-dir>/master.key``, mode 0600); distributed nodes must be
given the same one (``TRUC_MASTER_KEY`` or ``TRUC_MASTER_KEY_FILE``).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE = 12
VERSION = b"\x01"


class MasterKeyWrapper:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes (base64 of 32 random bytes)")
        self._aead = AESGCM(_derive(master_key, b"truc/wrap/v1"))
        self._master = master_key

    def wrap(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext, context)

    def unwrap(self, blob: bytes, context: bytes) -> bytes:
        if blob[:1] != VERSION:
            raise ValueError("unknown wrapped-key format")
        nonce, sealed = blob[1:1 + NONCE], blob[1 + NONCE:]
        return self._aead.decrypt(nonce, sealed, context)

    def token_signing_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(_derive(self._master, b"truc/tokens/v1"))


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def load_master_key(value: str | None, file: Path | None, data_dir: Path,
                    create: bool) -> bytes:
    """The configured key, else the data dir's ``master.key`` (made if ``create``)."""
    if value:
        return base64.b64decode(value)
    path = file or data_dir / "master.key"
    if path.exists():
        return base64.b64decode(path.read_text().strip())
    if not create:
        raise ValueError("no master key: set TRUC_MASTER_KEY or TRUC_MASTER_KEY_FILE "
                         "(the same on every node)")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(base64.b64encode(key).decode() + "\n")
    return key
