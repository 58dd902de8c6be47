"""What the extension keeps per application, in ``app.extensions["idempotency"]``."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field

from flask import Flask, current_app
from flask_sqlalchemy import SQLAlchemy

from .config import Settings
from .model import IdempotencyKey
from .options import KeyOptions
from .service import IdempotencyKeyService

EXTENSION_NAME = "idempotency"


@dataclass(frozen=True)
class IdempotencyState:
    settings: Settings
    db: SQLAlchemy
    model: type[IdempotencyKey]
    service: IdempotencyKeyService
    # Blueprints and apps given to Idempotency.protect, with their options; shared with the
    # Idempotency object, which may be told of more after init_app.
    protected: MutableMapping[object, KeyOptions] = field(default_factory=dict)


def get_state(app: Flask | None = None) -> IdempotencyState:
    app = app or current_app
    try:
        state: IdempotencyState = app.extensions[EXTENSION_NAME]
    except KeyError:
        raise RuntimeError(
            "flask-idempotency is not initialised on this app; call Idempotency(app) or "
            "idempotency.init_app(app) first"
        ) from None
    return state
