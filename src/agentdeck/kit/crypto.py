"""Secrets at rest: AES-256-GCM with a key id so master keys can be rotated."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"


class DecryptionError(Exception):
    """A ciphertext could not be decrypted: wrong key, unknown key id or tampered data."""


def key_id(key: bytes) -> str:
    """Return a short, stable identifier of a master key that reveals nothing about it."""
    return hashlib.sha256(b"agentdeck-kid:" + key).hexdigest()[:12]


class Cipher:
    """Encrypts with the primary key; decrypts with any key of the ring (for rotation)."""

    def __init__(self, primary: bytes, older: list[bytes] | None = None) -> None:
        if len(primary) != 32:
            raise ValueError("the master key must be 32 bytes (AES-256)")
        self._primary_id = key_id(primary)
        self._keys = {key_id(k): AESGCM(k) for k in [primary, *(older or [])]}

    @property
    def primary_key_id(self) -> str:
        """The key id new ciphertexts are written under."""
        return self._primary_id

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        """Encrypt ``plaintext``; ``context`` is bound as associated data (e.g. a row id)."""
        nonce = os.urandom(12)
        sealed = self._keys[self._primary_id].encrypt(nonce, plaintext.encode(), context.encode())
        blob = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{_VERSION}:{self._primary_id}:{blob}"

    def decrypt(self, token: str, *, context: str = "") -> str:
        """Decrypt a value made by :meth:`encrypt`. Raises :class:`DecryptionError`."""
        try:
            version, kid, blob = token.split(":", 2)
            if version != _VERSION or kid not in self._keys:
                raise DecryptionError("unknown key id or format")
            raw = base64.urlsafe_b64decode(blob.encode())
            return self._keys[kid].decrypt(raw[:12], raw[12:], context.encode()).decode()
        except DecryptionError:
            raise
        except Exception as exc:
            raise DecryptionError("ciphertext could not be decrypted") from exc

    @staticmethod
    def key_id_of(token: str) -> str:
        """The key id a ciphertext was written under."""
        return token.split(":", 2)[1]


def sha256_hex(value: str) -> str:
    """Hex SHA-256 of a string, for storing tokens and API keys that need only lookup."""
    return hashlib.sha256(value.encode()).hexdigest()


def random_token(nbytes: int = 32) -> str:
    """A URL-safe random token."""
    return secrets.token_urlsafe(nbytes)


def constant_time_equals(a: str, b: str) -> bool:
    """Compare two strings without leaking timing."""
    return hmac.compare_digest(a.encode(), b.encode())
