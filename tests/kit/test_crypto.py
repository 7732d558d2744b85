from __future__ import annotations

import base64
import os

import pytest

from agentdeck.kit.crypto import (
    Cipher,
    DecryptionError,
    constant_time_equals,
    key_id,
    random_token,
    sha256_hex,
)


def test_round_trip_and_fresh_nonces() -> None:
    cipher = Cipher(os.urandom(32))
    first = cipher.encrypt("sk-live-123", context="row-1")
    second = cipher.encrypt("sk-live-123", context="row-1")
    assert first != second
    assert "sk-live-123" not in first
    assert cipher.decrypt(first, context="row-1") == "sk-live-123"
    assert Cipher.key_id_of(first) == cipher.primary_key_id


def test_tampering_is_detected() -> None:
    cipher = Cipher(os.urandom(32))
    token = cipher.encrypt("secret")
    version, kid, blob = token.split(":", 2)
    raw = bytearray(base64.urlsafe_b64decode(blob))
    raw[-1] ^= 0x01
    tampered = f"{version}:{kid}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"
    with pytest.raises(DecryptionError):
        cipher.decrypt(tampered)
    for garbage in ("", "v1:nope", "v2:" + token.split(":", 1)[1], f"v1:{kid}:!!!"):
        with pytest.raises(DecryptionError):
            cipher.decrypt(garbage)


def test_the_wrong_context_or_key_cannot_decrypt() -> None:
    cipher = Cipher(os.urandom(32))
    token = cipher.encrypt("secret", context="org-a")
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, context="org-b")
    with pytest.raises(DecryptionError):
        Cipher(os.urandom(32)).decrypt(token, context="org-a")


def test_rotation_keeps_old_ciphertexts_readable() -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    old = Cipher(old_key)
    written_before = old.encrypt("legacy", context="c")
    rotated = Cipher(new_key, older=[old_key])
    assert rotated.primary_key_id != old.primary_key_id
    assert rotated.primary_key_id == key_id(new_key)
    assert rotated.decrypt(written_before, context="c") == "legacy"
    written_after = rotated.encrypt("fresh", context="c")
    assert Cipher.key_id_of(written_after) == key_id(new_key)
    with pytest.raises(DecryptionError):
        old.decrypt(written_after, context="c")


def test_a_short_master_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Cipher(b"too short")


def test_helpers() -> None:
    assert sha256_hex("abc") == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert random_token() != random_token()
    assert constant_time_equals("same", "same")
    assert not constant_time_equals("same", "diff")
    assert key_id(b"k" * 32) == key_id(b"k" * 32) != key_id(b"j" * 32)
