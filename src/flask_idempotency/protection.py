"""Protecting every unsafe-method view of a blueprint or an app at once.

``Idempotency.protect(target, **options)`` records the target and its options. Views are
wrapped with ``@idempotent`` when the app handles its first request: by then every blueprint
is registered and every route added (Flask refuses new ones after it), whether they were
defined before ``protect`` was called or after. A view already made with ``@idempotent``
keeps its own wrapper, which reads the blueprint's options per request, and a view marked
``exempt`` is left alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, MutableMapping
from typing import Any, TypeVar

from flask import Flask

from .decorator import OPTIONS_ATTRIBUTE, idempotent
from .options import SAFE_METHODS, KeyOptions

View = TypeVar("View", bound=Callable[..., Any])

# Set on a view function that protect() must leave unprotected.
EXEMPT_ATTRIBUTE = "__idempotency_exempt__"


def exempt(view: View) -> View:
    """Leave this view unprotected by ``Idempotency.protect`` of its blueprint or app."""
    setattr(view, EXEMPT_ATTRIBUTE, True)
    return view


class Protector:
    """Wraps the protected views of one app, once, before its first request is dispatched."""

    def __init__(self, app: Flask, protected: MutableMapping[object, KeyOptions]) -> None:
        self.app = app
        self.protected = protected
        self.done = False
        self._lock = threading.Lock()

    def __call__(self) -> None:
        # A before_request function: it returns nothing, so the request goes on.
        if self.done:
            return
        with self._lock:
            if not self.done:
                self._wrap_protected_views()
                self.done = True

    def _wrap_protected_views(self) -> None:
        if not self.protected:
            return
        app = self.app
        unsafe_endpoints = {
            rule.endpoint
            for rule in app.url_map.iter_rules()
            if (rule.methods or set()) - SAFE_METHODS
        }
        for endpoint in unsafe_endpoints:
            view = app.view_functions.get(endpoint)
            if view is None or getattr(view, EXEMPT_ATTRIBUTE, False):
                continue
            if hasattr(view, OPTIONS_ATTRIBUTE) or not self._covers(endpoint):
                continue
            app.view_functions[endpoint] = idempotent(view)

    def _covers(self, endpoint: str) -> bool:
        """Whether the endpoint belongs to a protected blueprint (or one nested in it) or to a
        protected app."""
        if self.app in self.protected:
            return True
        blueprint_name = endpoint.rpartition(".")[0]
        while blueprint_name:
            blueprint = self.app.blueprints.get(blueprint_name)
            if blueprint is not None and blueprint in self.protected:
                return True
            blueprint_name = blueprint_name.rpartition(".")[0]
        return False
