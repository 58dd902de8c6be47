"""Whose key it is.

Keys are unique per scope, so two callers that happen to pick the same key never see each
other's responses. Only the application knows who the caller is, so the extension does not
guess: ``IDEMPOTENCY_SCOPE`` must be set, to a callable returning the caller's id or to one of
the names below. A replay is served before the view runs, so the scope must come from an
identity the application has already verified (a ``before_request`` or an authentication
decorator placed above ``@idempotent``), never from a header nobody checked.

- ``"flask_login"``: Flask-Login's ``current_user.get_id()``; anonymous users share one scope.
- ``"authorization"``: the ``Authorization`` header. Basic credentials give the user name (the
  password is not part of it: verify it before the view); any other scheme gives a SHA-256 of
  the credential, so a refreshed bearer token is a new scope. Without the header, the anonymous
  scope.
- ``"global"``: one scope for everyone, for apps without accounts (as Medusa).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from flask import request

from .config import ScopeFunction
from .errors import ConfigurationError

MAX_SCOPE_LENGTH = 255
ANONYMOUS_SCOPE = "anonymous"
GLOBAL_SCOPE = ""


def flask_login_scope() -> str:
    from flask_login import current_user

    if not current_user.is_authenticated:
        return ANONYMOUS_SCOPE
    return f"user:{current_user.get_id()}"


def authorization_scope() -> str:
    header = request.headers.get("Authorization")
    if header is None:
        return ANONYMOUS_SCOPE
    credentials = request.authorization
    if credentials is not None and credentials.type == "basic" and credentials.username:
        return f"basic:{credentials.username}"
    digest = hashlib.sha256(header.strip().encode("latin-1", "replace")).hexdigest()
    return f"sha256:{digest}"


def global_scope() -> str:
    return GLOBAL_SCOPE


NAMED_SCOPES: Mapping[str, ScopeFunction] = {
    "flask_login": flask_login_scope,
    "authorization": authorization_scope,
    "global": global_scope,
}

_CHOICES = "a callable returning the caller's id (e.g. lambda: g.user.id), " + ", ".join(
    f'"{name}"' for name in NAMED_SCOPES
)


def resolve_scope(value: object, *, where: str = "IDEMPOTENCY_SCOPE") -> ScopeFunction:
    """The scope function that ``value`` (a name or a callable) stands for."""
    if value is None:
        raise ConfigurationError(
            f"{where} is not set. flask-idempotency does not guess who the caller is; "
            f"choose {_CHOICES}. See the README's Scope section."
        )
    if isinstance(value, str):
        if value not in NAMED_SCOPES:
            raise ConfigurationError(f"{where} {value!r} is not one of {_CHOICES}.")
        if value == "flask_login":
            _require_flask_login(where)
        return NAMED_SCOPES[value]
    if not callable(value):
        raise ConfigurationError(f"{where} must be {_CHOICES}, not {value!r}.")
    function: Callable[[], object] = value
    return function


def current_scope(scope_function: ScopeFunction) -> str:
    value = scope_function()
    scope = "" if value is None else str(value)
    if len(scope) > MAX_SCOPE_LENGTH:
        # A long scope (a token, say) is stored as its digest rather than refused.
        return hashlib.sha256(scope.encode()).hexdigest()
    return scope


def _require_flask_login(where: str) -> None:
    try:
        import flask_login  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            f'{where} "flask_login" needs Flask-Login: pip install flask-idempotency[flask-login]'
        ) from None
