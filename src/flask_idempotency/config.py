"""Every ``IDEMPOTENCY_*`` setting, its default, and how it is read.

The defaults live here and nowhere else; ``Idempotency.init_app`` applies them with
``app.config.setdefault`` and then reads the app's values into an immutable ``Settings``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ScopeFunction = Callable[[], object]

DEFAULTS: Mapping[str, Any] = {
    # The request and response header that carries the key.
    "IDEMPOTENCY_HEADER": "Idempotency-Key",
    # Seconds after which a held lock counts as abandoned (a dead worker) and may be taken over.
    "IDEMPOTENCY_LOCK_TIMEOUT": 90,
    # Seconds a key lives; an expired key behaves as new and may be purged.
    "IDEMPOTENCY_KEY_TTL": 24 * 60 * 60,
    # Longest key accepted, in characters.
    "IDEMPOTENCY_MAX_KEY_LENGTH": 255,
    # Whether a request without a key is refused (400) instead of getting a generated one.
    "IDEMPOTENCY_REQUIRED": False,
    # Seconds a duplicate waits for the request in flight before answering 409.
    "IDEMPOTENCY_WAIT": 0,
    # Who the caller is: a callable returning the caller's id, or "flask_login",
    # "authorization" or "global". No default: init_app refuses to guess (see scope.py).
    "IDEMPOTENCY_SCOPE": None,
    # Response headers stored and replayed besides Content-Type.
    "IDEMPOTENCY_STORED_HEADERS": (
        "Content-Encoding",
        "Content-Language",
        "Content-Disposition",
        "Location",
        "Link",
        "ETag",
        "Last-Modified",
        "Cache-Control",
        "Vary",
    ),
    # Name of the table that holds the keys.
    "IDEMPOTENCY_TABLE_NAME": "idempotency_key",
    # How often a serialization failure or deadlock is retried before giving up with 503.
    "IDEMPOTENCY_DATABASE_RETRIES": 3,
    # Largest request body, in bytes, an idempotent view accepts (413 above it); the body is
    # read whole to fingerprint it. None leaves only Flask's MAX_CONTENT_LENGTH.
    "IDEMPOTENCY_MAX_BODY_SIZE": 1024 * 1024,
    # Response statuses that are not stored: the view's uncommitted writes roll back, the key is
    # released at its last committed stage, and a retry runs again. For answers that mean
    # "come back later" (a 409 while something else finishes, a 503); empty stores every answer.
    "IDEMPOTENCY_UNSTORED_STATUSES": (),
    # Largest response body, in bytes, kept for replay. A larger response is still sent and its
    # work committed; a retry learns that the operation completed, not its body.
    "IDEMPOTENCY_MAX_RESPONSE_SIZE": 1024 * 1024,
    # Request fields whose values are stored redacted in request_params (the fingerprint still
    # covers them). Matched case-insensitively, ignoring "_", "-" and spaces, as a part of the
    # field name, at any depth.
    "IDEMPOTENCY_REDACTED_FIELDS": (
        "password",
        "secret",
        "token",
        "card_number",
        "cvc",
        "cvv",
        "authorization",
        "api_key",
    ),
    # Whether request_params keeps the request's params at all; False keeps only the fingerprint.
    "IDEMPOTENCY_STORE_PARAMS": True,
    # Problem types are this base followed by the problem's name, e.g. "...#request-in-flight";
    # 400, 409 and 422 answers link to it as their documentation.
    "IDEMPOTENCY_PROBLEM_BASE_URL": "https://flask-idempotency.readthedocs.io/en/latest/problems.html#",
    # Rows deleted per transaction by `flask idempotency purge`.
    "IDEMPOTENCY_PURGE_BATCH_SIZE": 1000,
}

# Headers that must never be replayed to another request, whatever the configuration says:
# a replayed cookie would hand one session's credentials to whoever retries.
NEVER_STORED_HEADERS = frozenset({"set-cookie", "content-length", "idempotency-key"})


@dataclass(frozen=True)
class Settings:
    header: str
    lock_timeout: float
    key_ttl: float
    max_key_length: int
    required: bool
    wait: float
    scope: ScopeFunction
    # Besides Content-Type, each name once; never one of NEVER_STORED_HEADERS.
    stored_headers: tuple[str, ...]
    table_name: str
    database_retries: int
    max_body_size: int | None
    unstored_statuses: frozenset[int]
    max_response_size: int
    redacted_fields: tuple[str, ...]
    store_params: bool
    problem_base_url: str
    purge_batch_size: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, scope: ScopeFunction) -> Settings:
        """``scope`` is the resolved IDEMPOTENCY_SCOPE (see scope.py, which knows its names)."""
        return cls(
            header=_string(config, "IDEMPOTENCY_HEADER"),
            lock_timeout=_seconds(config, "IDEMPOTENCY_LOCK_TIMEOUT", positive=True),
            key_ttl=_seconds(config, "IDEMPOTENCY_KEY_TTL", positive=True),
            max_key_length=_count(config, "IDEMPOTENCY_MAX_KEY_LENGTH", minimum=1),
            required=_flag(config, "IDEMPOTENCY_REQUIRED"),
            wait=_seconds(config, "IDEMPOTENCY_WAIT", positive=False),
            scope=scope,
            stored_headers=_stored_header_names(_names(config, "IDEMPOTENCY_STORED_HEADERS")),
            table_name=_string(config, "IDEMPOTENCY_TABLE_NAME"),
            database_retries=_count(config, "IDEMPOTENCY_DATABASE_RETRIES", minimum=0),
            max_body_size=(
                None
                if config["IDEMPOTENCY_MAX_BODY_SIZE"] is None
                else _count(config, "IDEMPOTENCY_MAX_BODY_SIZE", minimum=1)
            ),
            unstored_statuses=_statuses(config, "IDEMPOTENCY_UNSTORED_STATUSES"),
            max_response_size=_count(config, "IDEMPOTENCY_MAX_RESPONSE_SIZE", minimum=0),
            redacted_fields=_names(config, "IDEMPOTENCY_REDACTED_FIELDS"),
            store_params=_flag(config, "IDEMPOTENCY_STORE_PARAMS"),
            problem_base_url=_string(config, "IDEMPOTENCY_PROBLEM_BASE_URL"),
            purge_batch_size=_count(config, "IDEMPOTENCY_PURGE_BATCH_SIZE", minimum=1),
        )


def _statuses(config: Mapping[str, Any], name: str) -> frozenset[int]:
    value = config[name]
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a list of HTTP status codes, not {value!r}")
    statuses = list(value)
    for status in statuses:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"{name} must hold HTTP status codes (100-599), not {status!r}")
    return frozenset(statuses)


def _names(config: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = config[name]
    if (
        isinstance(value, str)
        or not isinstance(value, Sequence)
        or not all(isinstance(item, str) for item in value)
    ):
        raise TypeError(f"{name} must be a list of names, not {value!r}")
    return tuple(value)


def _stored_header_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """Each header name once, in the spelling first given: HTTP names compare without case, so
    ``("ETag", "etag")`` is one header. Content-Type is stored anyway and the names never stored
    are left out, whatever the list says."""
    seen = {"content-type", *NEVER_STORED_HEADERS}
    kept = []
    for name in names:
        if name.lower() not in seen:
            seen.add(name.lower())
            kept.append(name)
    return tuple(kept)


def _string(config: Mapping[str, Any], name: str) -> str:
    value = config[name]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty string, not {value!r}")
    return value


def _seconds(config: Mapping[str, Any], name: str, *, positive: bool) -> float:
    # from_prefixed_env() yields int or float; a bool is an int to Python but never meant here.
    value = config[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'positive' if positive else 'zero or more'}")
    return float(value)


def _count(config: Mapping[str, Any], name: str, *, minimum: int) -> int:
    value = config[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, not {value!r}")
    return value


def _flag(config: Mapping[str, Any], name: str) -> bool:
    value = config[name]
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false, not {value!r}")
    return value
