"""The app's signing key and the HMAC signatures made with it (form tokens, flash messages).

One key per app run, made at first use.  A reload supervisor passes its key to
each new app process in `KALI_SIGNING_KEY`, so the forms' tokens and a flash
message in flight survive a code swap; `set_signing_key` lets the launcher
supply a key kept elsewhere (for example in the app's data folder).
"""

from __future__ import annotations

import os

__all__ = ["signing_key", "set_signing_key", "sign", "verify", "ENVIRONMENT_VARIABLE"]

#: Where a parent process hands its key to the app process it starts (hex).
ENVIRONMENT_VARIABLE = "KALI_SIGNING_KEY"

_key: bytes | None = None


def signing_key() -> bytes:
    """The key every signature of this run is made with (32 random bytes unless one was given)."""
    global _key
    if _key is None:
        given = os.environ.get(ENVIRONMENT_VARIABLE, "")
        try:
            key = bytes.fromhex(given) if given else b""
        except ValueError:
            key = b""
        _key = key if len(key) >= 16 else os.urandom(32)     # what secrets.token_bytes uses
    return _key


def set_signing_key(key: bytes) -> None:
    """Use `key` (at least 16 bytes) from now on; signatures made with the old key stop verifying."""
    global _key
    if not isinstance(key, bytes) or len(key) < 16:
        raise ValueError("a signing key must be at least 16 bytes")
    _key = key


def sign(purpose: str, data: bytes) -> str:
    """A URL- and cookie-safe signature of `data` for one `purpose` (a signature for one purpose
    never verifies for another)."""
    import base64       # on first use only: `import kali` stays light
    import hashlib
    import hmac         # (hmac loads OpenSSL too)
    message = purpose.encode("utf-8") + b"\0" + data
    digest = hmac.new(signing_key(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(purpose: str, data: bytes, signature: str | None) -> bool:
    """Whether `signature` is `sign(purpose, data)` (compared in constant time)."""
    if not signature:
        return False
    import hmac
    return hmac.compare_digest(signature.encode("utf-8", "replace"), sign(purpose, data).encode("ascii"))
