"""The ``Idempotency`` extension object."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, TypeVar

from flask import Blueprint, Flask
from flask_sqlalchemy import SQLAlchemy

from . import statement_privacy, write_guard
from .cli import idempotency_cli
from .config import DEFAULTS, ScopeFunction, Settings
from .decorator import echo_key_header
from .errors import ConfigurationError
from .isolation import IsolationLevel
from .model import KEY_LENGTH, IdempotencyKey, define_model
from .options import KeyOptions
from .protection import Protector, exempt
from .scope import resolve_scope
from .server_settings import fit_to_server
from .service import IdempotencyKeyService
from .state import EXTENSION_NAME, IdempotencyState, get_state

View = TypeVar("View", bound=Callable[..., Any])


class Idempotency:
    """Adds idempotency keys to a Flask app.

    ``db`` is the app's Flask-SQLAlchemy object; when omitted, the one registered on the app
    is used. The ``IdempotencyKey`` model is defined on it, so migrations see the table.
    ``scope`` (who the caller is) takes precedence over ``IDEMPOTENCY_SCOPE``; one of the two
    must be set. Settings are read once, in ``init_app``.
    """

    def __init__(
        self,
        app: Flask | None = None,
        db: SQLAlchemy | None = None,
        *,
        scope: ScopeFunction | str | None = None,
    ) -> None:
        self.db = db
        self.scope = scope
        # Blueprints and apps given to protect(), with their options; weakly, so that an app
        # or blueprint dropped (as tests drop theirs) is not kept alive by this object.
        self._protected: MutableMapping[object, KeyOptions] = weakref.WeakKeyDictionary()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Set the extension up on ``app``: apply the ``IDEMPOTENCY_*`` defaults, read the
        settings, define the ``IdempotencyKey`` model on the app's Flask-SQLAlchemy object,
        check the database server can run the claim, and register the ``flask idempotency``
        commands. Raises ``ConfigurationError`` for a setting it cannot work with, and
        ``RuntimeError`` when called twice on one app.
        """
        if EXTENSION_NAME in app.extensions:
            raise RuntimeError("flask-idempotency is already initialised on this app")
        for name, value in DEFAULTS.items():
            app.config.setdefault(name, value)
        scope = resolve_scope(
            self.scope if self.scope is not None else app.config["IDEMPOTENCY_SCOPE"]
        )
        settings = Settings.from_config(app.config, scope=scope)
        if settings.max_key_length > KEY_LENGTH:
            raise ConfigurationError(
                f"IDEMPOTENCY_MAX_KEY_LENGTH is {settings.max_key_length}, but the "
                f"idempotency_key column holds at most {KEY_LENGTH} characters"
            )
        db = self.db or app.extensions.get("sqlalchemy")
        if not isinstance(db, SQLAlchemy):
            raise RuntimeError(
                "flask-idempotency needs Flask-SQLAlchemy: pass Idempotency(app, db) or "
                "initialise SQLAlchemy on the app first"
            )
        model = define_model(db, settings.table_name)
        # Refuses a server the claim cannot run on, and fits the response size to it.
        settings = fit_to_server(app, db, settings)
        app.extensions[EXTENSION_NAME] = IdempotencyState(
            settings=settings,
            db=db,
            model=model,
            service=IdempotencyKeyService(db, model, settings),
            protected=self._protected,
        )
        app.before_request(Protector(app, self._protected))
        app.after_request(echo_key_header)
        app.cli.add_command(idempotency_cli)
        write_guard.install()
        statement_privacy.install()

    def protect(
        self,
        target: Blueprint | Flask,
        *,
        required: bool | None = None,
        wait: float | None = None,
        scope: ScopeFunction | str | None = None,
        ttl: float | None = None,
        lock_timeout: float | None = None,
        methods: Iterable[str] | None = None,
        isolation_level: IsolationLevel | None = None,
    ) -> None:
        """Protect every view of a blueprint (and the blueprints nested in it) or of an app
        that accepts an unsafe method, as if each had ``@idempotent``.

        The options are ``@idempotent``'s. A view's own ``@idempotent(...)`` options win over
        its blueprint's, which win over the app's, which win over ``IDEMPOTENCY_*``. Routes
        may be added before or after this call; use ``exempt`` to leave a view out.
        """
        if not isinstance(target, Blueprint | Flask):
            raise TypeError(f"protect() takes a Blueprint or a Flask app, not {target!r}")
        self._protected[target] = KeyOptions.given(
            f"protect({target.name!r})",
            required=required,
            wait=wait,
            scope=scope,
            ttl=ttl,
            lock_timeout=lock_timeout,
            methods=methods,
            isolation_level=isolation_level,
        )

    @staticmethod
    def exempt(view: View) -> View:
        """Decorate a view that ``protect`` of its blueprint or app must leave unprotected."""
        return exempt(view)

    @property
    def model(self) -> type[IdempotencyKey]:
        """The mapped IdempotencyKey class of the current app."""
        return get_state().model

    @property
    def service(self) -> IdempotencyKeyService:
        """The IdempotencyKeyService of the current app."""
        return get_state().service
