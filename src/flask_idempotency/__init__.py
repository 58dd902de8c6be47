"""Idempotency keys for Flask: make requests safe to retry."""

from .current_key import CurrentKey, current_key
from .database_errors import KeyStorageError
from .decorator import idempotent
from .errors import (
    ConfigurationError,
    DatabaseUnavailable,
    IdempotencyError,
    IdempotencyKeyMismatch,
    IdempotencyKeyNotFound,
    IdempotencyKeyRequired,
    InvalidIdempotencyKey,
    LockLost,
    MalformedRequestBody,
    RequestBodyTooLarge,
    RequestInFlight,
    ResponseNotKept,
    ResponseNotStorable,
    StageError,
)
from .extension import Idempotency
from .function import idempotent_function
from .model import IdempotencyKey
from .service import FinalResponse, IdempotencyKeyService, RecoveryPoint
from .stage import Stage, stage

__all__ = [
    "ConfigurationError",
    "CurrentKey",
    "DatabaseUnavailable",
    "FinalResponse",
    "Idempotency",
    "IdempotencyError",
    "IdempotencyKey",
    "IdempotencyKeyMismatch",
    "IdempotencyKeyNotFound",
    "IdempotencyKeyRequired",
    "IdempotencyKeyService",
    "InvalidIdempotencyKey",
    "KeyStorageError",
    "LockLost",
    "MalformedRequestBody",
    "RecoveryPoint",
    "RequestBodyTooLarge",
    "RequestInFlight",
    "ResponseNotKept",
    "ResponseNotStorable",
    "Stage",
    "StageError",
    "current_key",
    "idempotent",
    "idempotent_function",
    "stage",
]
