"""Whose key it is.

Keys are unique per scope, so two clients that happen to pick the same key never see each
other's responses. By default the scope is a digest of the ``Authorization`` header: the same
credentials give the same scope, and the credential itself is never stored.
"""

from __future__ import annotations

import hashlib

from flask import request

from .config import ScopeFunction

MAX_SCOPE_LENGTH = 255


def authorization_digest() -> str:
    """The default scope: SHA-256 of the Authorization header, or "" for anonymous clients."""
    credential = request.headers.get("Authorization")
    if credential is None:
        return ""
    return hashlib.sha256(credential.encode("latin-1", "replace")).hexdigest()


def current_scope(scope_function: ScopeFunction | None) -> str:
    value = (scope_function or authorization_digest)()
    scope = "" if value is None else str(value)
    if len(scope) > MAX_SCOPE_LENGTH:
        # A long scope (a token, say) is stored as its digest rather than refused.
        return hashlib.sha256(scope.encode()).hexdigest()
    return scope
