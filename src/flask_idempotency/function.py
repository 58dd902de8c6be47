"""``idempotent_function``: make a function safe to retry, outside any view.

A Celery task, a CLI command or a webhook consumer may run twice for one piece of work: a
broker redelivers, an operator reruns, a sender retries. Decorated, such a function claims a key
made from its arguments before it runs, exactly as an ``@idempotent`` view claims the key of a
request (see holding.py), and stores its return value, as JSON, where a view's response goes::

    @idempotent_function(key="order_id")
    def charge(order_id: str, amount: int) -> dict[str, int]:
        ...

    @idempotent_function(key=lambda order_id, **_: f"charge:{order_id}", wait=5)
    def charge(order_id: str, amount: int) -> dict[str, int]:
        ...

What a call goes through:

- The key is the value of the argument named by ``key`` (its ``str()``), or what ``key``
  returns when it is a callable; ``scope`` is a string or such a callable too. A callable gets
  the function's arguments as keywords, as bound to its signature with the defaults applied (a
  ``*args`` parameter as one tuple under its name, ``**kwargs`` as one dict under its).
- Keys of different functions never meet: the key's stored scope is the function's name
  (``module:qualname``, or ``name=``), followed by ``#`` and the ``scope`` given, if any. Its
  ``request_method`` is ``CALL``, its ``request_path`` the function's name, and its
  fingerprint covers the name and the arguments, as JSON (``exclude_arguments`` leaves some
  out: ``self``, a connection). The same key with other arguments raises
  ``IdempotencyKeyMismatch``; a key another call holds raises ``RequestInFlight``, after
  waiting up to ``wait`` seconds for it to finish.
- A finished key returns the stored value without running the function. Every call returns
  the value as JSON gives it back, the first one too, so that the first call and its repeats
  agree: a tuple comes back as a list, dictionary keys as strings. A value larger than
  ``IDEMPOTENCY_MAX_RESPONSE_SIZE`` is returned to the first call only; a repeat raises
  ``ResponseNotKept``, and the function does not run again.
- The function's database writes, through ``db.session``, commit with its stored value, or
  with a ``stage()``; its own ``commit()`` raises ``StageError``, as in a view. An exception
  (a return value that is not JSON included) rolls back what the last committed stage did not
  commit, releases the key there and propagates; the next call with the key resumes after
  that stage. ``current_key`` works inside, and signals and log lines are those of a view.

It needs an application context with the extension initialised: a Celery task or a CLI command
runs in one of its own, as Flask's guides set them up. It refuses to run inside another key's
work (an ``@idempotent`` view or another idempotent function), where its claim would commit
that work apart from its stages. The caller's own uncommitted writes commit with the claim,
as a ``before_request``'s writes do with a view's. Only plain (sync) functions can be
decorated.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from flask import has_app_context

from .config import Settings
from .errors import ConfigurationError, ResponseNotKept
from .fingerprint import RequestFingerprint, digest_of
from .holding import KeyRequest, claim, run_holding
from .json_storage import is_storable
from .model import IdempotencyKey
from .options import KeyOptions
from .scope import current_scope
from .state import get_state
from .write_guard import active_observer

P = ParamSpec("P")
Result = TypeVar("Result")

# Where a view's key has its request method and path, a function's has these.
CALL_METHOD = "CALL"
# The status stored with a function's return value: it returned, as a 200 says of a view.
RETURNED_STATUS = 200
_STORED_HEADERS = [["Content-Type", "application/json"]]
# Between the function's name and the scope given, in the stored scope.
_SCOPE_SEPARATOR = "#"

ArgumentsFunction = Callable[..., object]


def idempotent_function(
    *,
    key: str | ArgumentsFunction,
    scope: str | ArgumentsFunction = "",
    name: str | None = None,
    ttl: float | None = None,
    lock_timeout: float | None = None,
    wait: float | None = None,
    exclude_arguments: Iterable[str] = (),
) -> Callable[[Callable[P, Result]], Callable[P, Result]]:
    """Make a function run once per key, and return its stored value on every later call.

    ``key`` names the argument whose value is the key, or is a callable over the arguments
    returning it; ``scope`` (a string, or such a callable) narrows the function's keys, e.g. to
    one tenant. ``name`` replaces ``module:qualname`` in the stored key, so that keys survive
    renaming or moving the function. ``ttl``, ``lock_timeout`` and ``wait`` (seconds) override
    ``IDEMPOTENCY_KEY_TTL``, ``IDEMPOTENCY_LOCK_TIMEOUT`` and ``IDEMPOTENCY_WAIT``.
    ``exclude_arguments`` names arguments the fingerprint leaves out (they need not be JSON).
    See the module documentation for what a call goes through.
    """
    where = "idempotent_function(...)"
    options = KeyOptions.given(where, wait=wait, ttl=ttl, lock_timeout=lock_timeout)
    if not (isinstance(key, str) or callable(key)):
        raise ConfigurationError(
            f"{where}: key must name an argument or be a callable over the arguments, not {key!r}"
        )
    if not (isinstance(scope, str) or callable(scope)):
        raise ConfigurationError(
            f"{where}: scope must be a string or a callable over the arguments, not {scope!r}"
        )
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigurationError(f"{where}: name must be a non-empty string, not {name!r}")
    if isinstance(exclude_arguments, str):
        raise ConfigurationError(f'{where}: exclude_arguments is a list of names, e.g. ["self"]')
    excluded = frozenset(exclude_arguments)

    def decorate(function: Callable[P, Result]) -> Callable[P, Result]:
        identity = _CallIdentity.of(function, key, scope, name, excluded)

        @functools.wraps(function)
        def idempotent_call(*args: P.args, **kwargs: P.kwargs) -> Result:
            returned: Result = _call(function, identity, options, args, kwargs)
            return returned

        return idempotent_call

    return decorate


@dataclass(frozen=True)
class _CallIdentity:
    """How one function's calls are told apart: their key, their scope, their fingerprint."""

    name: str
    signature: inspect.Signature
    key: Callable[[Mapping[str, Any]], object]
    scope: Callable[[Mapping[str, Any]], object]
    excluded: frozenset[str]

    @classmethod
    def of(
        cls,
        function: Callable[..., Any],
        key: str | ArgumentsFunction,
        scope: str | ArgumentsFunction,
        name: str | None,
        excluded: frozenset[str],
    ) -> _CallIdentity:
        where = f"idempotent_function(...) on {getattr(function, '__qualname__', function)!r}"
        if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
            raise ConfigurationError(f"{where}: only sync functions can be decorated")
        if inspect.isgeneratorfunction(function):
            raise ConfigurationError(
                f"{where}: a generator function returns a generator, which cannot be stored; "
                "return a list"
            )
        if name is None:
            module = getattr(function, "__module__", None)
            qualname = getattr(function, "__qualname__", None)
            if not module or not qualname:
                raise ConfigurationError(f"{where}: it has no qualified name; give it name=")
            name = f"{module}:{qualname}"
        signature = inspect.signature(function)
        parameters = signature.parameters
        unknown = sorted(excluded - set(parameters))
        if unknown:
            raise ConfigurationError(
                f"{where}: exclude_arguments names no parameter of it: {', '.join(unknown)}"
            )
        return cls(
            name=name,
            signature=signature,
            key=_key_rule(where, key, parameters),
            scope=_from_arguments(scope),
            excluded=excluded,
        )

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> inspect.BoundArguments:
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return bound

    def request(
        self, arguments: Mapping[str, Any], settings: Settings, options: KeyOptions
    ) -> KeyRequest:
        fingerprinted = {
            name: _as_json(self.name, name, value)
            for name, value in arguments.items()
            if name not in self.excluded
        }
        params = {"arguments": fingerprinted}
        fingerprint = RequestFingerprint(
            method=CALL_METHOD,
            host="",
            path=self.name,
            params=params,
            digest=digest_of(CALL_METHOD, self.name, params),
        )
        return KeyRequest(
            key=self._key(arguments, settings),
            scope=self._scope(arguments),
            method=CALL_METHOD,
            host="",
            path=self.name,
            params=fingerprint.stored_params(settings.redacted_fields, keep=settings.store_params),
            fingerprint=fingerprint.digest,
            ttl=options.ttl,
            lock_timeout=options.lock_timeout,
            wait=options.wait,
        )

    def _key(self, arguments: Mapping[str, Any], settings: Settings) -> str:
        value = self.key(arguments)
        problem = None
        if value is None:
            problem = "is None"
        else:
            key = str(value)
            if not key:
                problem = "is empty"
            elif len(key) > settings.max_key_length:
                problem = f"is longer than IDEMPOTENCY_MAX_KEY_LENGTH ({settings.max_key_length})"
            elif not is_storable(key):
                problem = "holds a NUL character or a lone surrogate, which no database stores"
            else:
                return key
        raise ValueError(f"the idempotency key of {self.name} {problem}")

    def _scope(self, arguments: Mapping[str, Any]) -> str:
        value = self.scope(arguments)
        given = "" if value is None else str(value)
        stored = f"{self.name}{_SCOPE_SEPARATOR}{given}" if given else self.name
        # Over the column's length, its digest: the same rule as a view's scope.
        return current_scope(lambda: stored)


def _key_rule(
    where: str, key: str | ArgumentsFunction, parameters: Mapping[str, inspect.Parameter]
) -> Callable[[Mapping[str, Any]], object]:
    if not isinstance(key, str):
        return _from_arguments(key)
    parameter = parameters.get(key)
    if parameter is None:
        raise ConfigurationError(f"{where}: key {key!r} names no parameter of it")
    if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
        raise ConfigurationError(
            f"{where}: key {key!r} names its *args or **kwargs; name one argument, or give a "
            "callable that makes the key"
        )
    return lambda arguments: arguments[key]


def _from_arguments(rule: str | ArgumentsFunction) -> Callable[[Mapping[str, Any]], object]:
    if isinstance(rule, str):
        return lambda arguments: rule
    return lambda arguments: rule(**arguments)


def _as_json(function_name: str, argument: str, value: Any) -> Any:
    """The argument as JSON gives it back (a tuple as a list), for the fingerprint."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"argument {argument!r} of {function_name} is not JSON-serialisable ({error}); the "
            "key's fingerprint covers the arguments: pass JSON values (ids rather than objects), "
            "or leave it out with exclude_arguments"
        ) from None


@dataclass(frozen=True)
class _ReturnedValue:
    """The function's return value as stored, and as every call returns it."""

    encoded: bytes
    value: Any

    @classmethod
    def of(cls, function_name: str, returned: Any) -> _ReturnedValue:
        try:
            # ASCII escapes keep any string encodable, lone surrogates included.
            text = json.dumps(returned, separators=(",", ":"))
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"{function_name} returned a value that is not JSON-serialisable ({error}); an "
                "idempotent function returns JSON values (dict, list, str, int, float, bool or "
                "None). Its key was released: fix the function and call it again"
            ) from None
        return cls(text.encode("ascii"), json.loads(text))

    def stored(self) -> dict[str, Any]:
        return {
            "response_code": RETURNED_STATUS,
            # For people reading the table; where a database could not hold it, the bytes do.
            "response_body": self.value if is_storable(self.value) else None,
            "response_bytes": self.encoded,
            "response_headers": _STORED_HEADERS,
            "response_kept": True,
        }


def _stored_value(key: IdempotencyKey) -> Any:
    if key.response_kept is False:
        raise ResponseNotKept(key.response_code or RETURNED_STATUS)
    if key.response_bytes is not None:
        return json.loads(key.response_bytes)
    # A key finished through IdempotencyKeyService.work_stage holds a document only.
    return key.response_body


def _call(
    function: Callable[..., Any],
    identity: _CallIdentity,
    options: KeyOptions,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    if not has_app_context():
        raise RuntimeError(
            f"{identity.name} is an idempotent function and needs an application context, for "
            "the app's database and idempotency settings: call it inside "
            "`with app.app_context():` (a Celery task or a CLI command gets one where it is set "
            "up as in Flask's guides)"
        )
    if active_observer() is not None:
        raise RuntimeError(
            f"{identity.name} is an idempotent function and cannot run while this context "
            "holds another key (in an @idempotent view or another idempotent function): its "
            "claim would commit that work apart from its stages. Call it once that key is "
            "finished, or hand it to a worker"
        )
    state = get_state()
    settings = state.settings
    bound = identity.bind(args, kwargs)
    taken = claim(state.service, settings, identity.request(bound.arguments, settings, options))
    if taken.taken is None:
        return _stored_value(taken.key)
    held = taken.key
    returned = run_holding(
        state.service,
        settings,
        held,
        attempt=lambda: _ReturnedValue.of(identity.name, function(*bound.args, **bound.kwargs)),
        keep=lambda returned: state.service.finish(held, returned.stored()),
    )
    return returned.value
