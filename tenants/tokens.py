"""API token secrets: generation, digest, parsing. The secret is never stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "ap"  # noqa: S105  (a public marker, not a secret)


def generate() -> tuple[str, str, str]:
    """Return ``(token, prefix, digest)``; ``token`` is shown to the user once."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = f"{TOKEN_PREFIX}_{prefix}_{secret}"
    return token, prefix, digest(token)


def digest(token: str) -> str:
    # A fast hash is right here: the secret has 256 bits of entropy, so it cannot be guessed
    # offline; a slow password hash would only slow down every API request.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_prefix(token: str) -> str | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or len(parts[1]) != 12:
        return None
    return parts[1]


def matches(token: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(token), stored_digest)
