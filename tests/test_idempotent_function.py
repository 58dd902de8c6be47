"""idempotent_function: a function outside any view runs once per key, and resumes after its
last completed stage, on every database."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask, got_request_exception
from sqlalchemy import event

from flask_idempotency import (
    ConfigurationError,
    IdempotencyKeyMismatch,
    RequestInFlight,
    ResponseNotKept,
    StageError,
    current_key,
    idempotent,
    stage,
)
from flask_idempotency.function import idempotent_function
from tests.helpers import charges, effects, stored_keys
from tests.ledger_app import Charge, Effect, Gate, db


def in_context(app: Flask, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``function`` as a worker would: in an application context of its own."""
    with app.app_context():
        return function(*args, **kwargs)


def name_of(function: Callable[..., Any]) -> str:
    return f"{__name__}:{function.__qualname__}"


def test_the_first_call_runs_and_stores_and_a_repeat_returns_the_value_without_running(
    app: Flask,
) -> None:
    runs: list[str] = []

    @idempotent_function(key="order_id")
    def charge(order_id: str, amount: int) -> dict[str, Any]:
        runs.append(order_id)
        row = Charge(amount=amount)
        db.session.add(row)
        db.session.flush()
        return {"id": row.id, "amount": amount, "pair": (1, 2)}

    first = in_context(app, charge, "o-1", 5)
    # As JSON gives it back, already on the first call, so that every call agrees.
    assert first == {"id": first["id"], "amount": 5, "pair": [1, 2]}
    repeat = in_context(app, charge, "o-1", amount=5)

    assert repeat == first
    assert runs == ["o-1"]
    assert charges(app) == 1
    [key] = stored_keys(app)
    assert key.idempotency_key == "o-1"
    assert key.scope == name_of(charge)
    assert (key.request_method, key.request_path) == ("CALL", name_of(charge))
    assert key.request_params == {"arguments": {"order_id": "o-1", "amount": 5}}
    assert (key.response_code, key.response_body) == (200, first)
    assert (key.recovery_point, key.locked_at) == ("finished", None)


def test_a_callable_key_is_made_from_the_arguments_with_their_defaults(app: Flask) -> None:
    runs: list[str] = []

    @idempotent_function(key=lambda order_id, **_: f"charge:{order_id}")
    def charge(order_id: str, amount: int = 1) -> int:
        runs.append(order_id)
        return amount

    assert in_context(app, charge, "o-2") == 1
    # The default applied: the same call, however it is written.
    assert in_context(app, charge, order_id="o-2", amount=1) == 1
    assert runs == ["o-2"]
    assert [key.idempotency_key for key in stored_keys(app)] == ["charge:o-2"]


def test_the_same_key_with_other_arguments_raises_key_mismatch(app: Flask) -> None:
    runs: list[int] = []

    @idempotent_function(key="order_id")
    def charge(order_id: str, amount: int) -> int:
        runs.append(amount)
        return amount

    assert in_context(app, charge, "o-3", 5) == 5
    with pytest.raises(IdempotencyKeyMismatch):
        in_context(app, charge, "o-3", 6)
    assert runs == [5]


def test_a_failure_after_a_completed_stage_resumes_on_the_next_call_without_repeating_it(
    app: Flask,
) -> None:
    failing = {"after_reserved": True}
    seen: list[tuple[str, str, list[str], bool]] = []

    @idempotent_function(key="order_ref")
    def place(order_ref: str) -> dict[str, str]:
        seen.append(
            (current_key.key, current_key.scope, current_key.completed_stages, current_key.resumed)
        )
        with stage("reserved") as reserved:
            if reserved.pending:
                db.session.add(Effect(order_ref=order_ref, stage="reserved"))
        if failing["after_reserved"]:
            raise RuntimeError("the payment provider timed out")
        with stage("charged") as charged:
            if charged.pending:
                db.session.add(Effect(order_ref=order_ref, stage="charged"))
        db.session.add(Effect(order_ref=order_ref, stage="finished"))
        return {"order": order_ref, "at": current_key.recovery_point}

    with pytest.raises(RuntimeError, match="timed out"):
        in_context(app, place, "r-1")
    assert effects(app, "r-1") == {"reserved": 1}
    [key] = stored_keys(app)
    assert (key.recovery_point, key.locked_at, key.response_code) == ("reserved", None, None)

    failing["after_reserved"] = False
    assert in_context(app, place, "r-1") == {"order": "r-1", "at": "charged"}
    assert effects(app, "r-1") == {"reserved": 1, "charged": 1, "finished": 1}
    assert in_context(app, place, "r-1") == {"order": "r-1", "at": "charged"}
    assert effects(app, "r-1") == {"reserved": 1, "charged": 1, "finished": 1}

    assert seen == [
        ("r-1", name_of(place), [], False),
        ("r-1", name_of(place), ["reserved"], True),
    ]
    [key] = stored_keys(app)
    assert key.completed_stages == ["reserved", "charged"]


def test_two_threads_calling_with_one_key_at_once_run_it_once(app: Flask) -> None:
    runs: list[str] = []
    start = threading.Barrier(2)

    @idempotent_function(key="order_id", wait=30)
    def charge(order_id: str) -> dict[str, int]:
        runs.append(order_id)
        row = Charge(amount=3)
        db.session.add(row)
        db.session.flush()
        return {"id": row.id}

    def race() -> Any:
        start.wait(timeout=10)
        return in_context(app, charge, "simultaneous")

    with ThreadPoolExecutor(2) as pool:
        results = [future.result() for future in [pool.submit(race), pool.submit(race)]]

    assert results[0] == results[1]
    assert runs == ["simultaneous"]
    assert charges(app) == 1


def held_function(gate: Gate, runs: list[int], *, wait: float) -> Callable[[str], dict[str, int]]:
    @idempotent_function(key="order_id", wait=wait)
    def charge(order_id: str) -> dict[str, int]:
        runs.append(threading.get_ident())
        gate.pass_through()
        row = Charge(amount=4)
        db.session.add(row)
        db.session.flush()
        return {"id": row.id}

    return charge


def test_a_call_while_another_holds_the_key_raises_request_in_flight(app: Flask) -> None:
    gate = Gate()
    runs: list[int] = []
    charge = held_function(gate, runs, wait=0)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(in_context, app, charge, "held")
        assert gate.entered.wait(10)
        with pytest.raises(RequestInFlight):
            in_context(app, charge, "held")
        gate.release.set()
        value = first.result()

    assert in_context(app, charge, "held") == value
    assert len(runs) == 1
    assert charges(app) == 1


@pytest.fixture
def key_lookups_by_others(app: Flask) -> Iterator[Callable[[int, int], threading.Event]]:
    """Gives an event set once threads other than one have looked the key table up n times."""
    with app.app_context():
        engine = db.engine
    listeners: list[Callable[..., None]] = []

    def watch(holder: int, times: int) -> threading.Event:
        seen, looked = [0], threading.Event()

        def count(*args: Any) -> None:
            if threading.get_ident() != holder and "idempotency_key" in args[2].lower():
                seen[0] += 1
                if seen[0] >= times:
                    looked.set()

        event.listen(engine, "before_cursor_execute", count)
        listeners.append(count)
        return looked

    yield watch
    for listener in listeners:
        event.remove(engine, "before_cursor_execute", listener)


def test_a_call_that_waits_gets_the_value_of_the_call_in_flight(
    app: Flask, key_lookups_by_others: Callable[[int, int], threading.Event]
) -> None:
    gate = Gate()
    runs: list[int] = []
    charge = held_function(gate, runs, wait=30)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(in_context, app, charge, "waited")
        assert gate.entered.wait(10)
        # Found in flight, then looked up again: the second call is waiting.
        polled = key_lookups_by_others(runs[0], 2)
        second = pool.submit(in_context, app, charge, "waited")
        assert polled.wait(10)
        gate.release.set()
        assert second.result() == first.result()

    assert len(runs) == 1
    assert charges(app) == 1


def test_a_function_key_never_meets_a_view_key_or_another_function_key_of_the_same_name(
    make_app: Callable[..., Flask],
) -> None:
    # One scope, "", for every request: a function keyed in it would meet the view's key.
    app = make_app(IDEMPOTENCY_SCOPE="global")
    client = app.test_client()
    runs: list[str] = []

    @idempotent_function(key="key")
    def first(key: str) -> str:
        runs.append("first")
        return "first"

    @idempotent_function(key="key")
    def second(key: str) -> str:
        runs.append("second")
        return "second"

    answered = client.post("/anything/x", headers={"Idempotency-Key": "shared"})
    assert answered.status_code == 200
    assert in_context(app, first, "shared") == "first"
    assert in_context(app, second, "shared") == "second"
    assert in_context(app, first, "shared") == "first"
    replayed = client.post("/anything/x", headers={"Idempotency-Key": "shared"})

    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.data == answered.data
    assert runs == ["first", "second"]
    assert sorted(key.scope for key in stored_keys(app)) == sorted(
        ["", name_of(first), name_of(second)]
    )


def test_a_scope_callable_keeps_each_tenants_keys_apart(app: Flask) -> None:
    runs: list[tuple[str, str]] = []

    @idempotent_function(key="invoice_id", scope=lambda tenant, **_: tenant)
    def send_invoice(tenant: str, invoice_id: str) -> str:
        runs.append((tenant, invoice_id))
        return f"sent to {tenant}"

    assert in_context(app, send_invoice, "acme", "inv-1") == "sent to acme"
    assert in_context(app, send_invoice, "globex", "inv-1") == "sent to globex"
    assert in_context(app, send_invoice, "acme", "inv-1") == "sent to acme"

    assert runs == [("acme", "inv-1"), ("globex", "inv-1")]
    assert sorted(key.scope for key in stored_keys(app)) == [
        f"{name_of(send_invoice)}#acme",
        f"{name_of(send_invoice)}#globex",
    ]


def test_a_return_value_that_is_not_json_raises_and_releases_the_key(app: Flask) -> None:
    returns: list[Any] = [{"at": object()}, {"at": "noon"}]
    runs: list[Any] = []

    @idempotent_function(key="order_id")
    def charge(order_id: str) -> Any:
        runs.append(order_id)
        db.session.add(Charge(amount=1))
        return returns[len(runs) - 1]

    with pytest.raises(TypeError, match="returned a value that is not JSON-serialisable"):
        in_context(app, charge, "o-4")
    assert charges(app) == 0
    [key] = stored_keys(app)
    assert (key.locked_at, key.response_code, key.recovery_point) == (None, None, "started")

    assert in_context(app, charge, "o-4") == {"at": "noon"}
    assert in_context(app, charge, "o-4") == {"at": "noon"}
    assert len(runs) == 2
    assert charges(app) == 1


def test_arguments_that_are_not_json_raise_before_anything_runs_unless_excluded(
    app: Flask,
) -> None:
    class Client:
        pass

    runs: list[str] = []

    @idempotent_function(key="order_id")
    def charge(client: Client, order_id: str) -> str:
        runs.append(order_id)
        return order_id

    @idempotent_function(key="order_id", exclude_arguments=["client"])
    def charge_with(client: Client, order_id: str) -> str:
        runs.append(order_id)
        return order_id

    with pytest.raises(TypeError, match=r"argument 'client' of .* is not JSON-serialisable"):
        in_context(app, charge, Client(), "o-5")
    assert runs == []
    assert stored_keys(app) == []

    assert in_context(app, charge_with, Client(), "o-5") == "o-5"
    assert in_context(app, charge_with, Client(), "o-5") == "o-5"
    assert runs == ["o-5"]
    [key] = stored_keys(app)
    assert key.request_params == {"arguments": {"order_id": "o-5"}}


def test_a_method_leaves_self_out_of_the_fingerprint_and_none_is_a_value(app: Flask) -> None:
    class Mailer:
        def __init__(self) -> None:
            self.sent: list[str] = []

        @idempotent_function(key="message_id", exclude_arguments=["self"])
        def send(self, message_id: str) -> None:
            self.sent.append(message_id)

    first, second = Mailer(), Mailer()
    assert in_context(app, first.send, "m-1") is None
    assert in_context(app, second.send, "m-1") is None

    assert (first.sent, second.sent) == (["m-1"], [])
    [key] = stored_keys(app)
    assert key.request_params == {"arguments": {"message_id": "m-1"}}


def test_sensitive_arguments_are_stored_redacted_and_still_fingerprinted(app: Flask) -> None:
    @idempotent_function(key="user_id")
    def reset_password(user_id: int, new_password: str) -> bool:
        return True

    assert in_context(app, reset_password, 7, "hunter2") is True
    [key] = stored_keys(app)
    assert key.request_params == {"arguments": {"user_id": 7, "new_password": "[REDACTED]"}}
    with pytest.raises(IdempotencyKeyMismatch):
        in_context(app, reset_password, 7, "another")


def test_a_value_too_large_to_keep_is_returned_once_and_a_repeat_raises_response_not_kept(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(IDEMPOTENCY_MAX_RESPONSE_SIZE=16)
    runs: list[str] = []

    @idempotent_function(key="report_id")
    def build_report(report_id: str) -> str:
        runs.append(report_id)
        return "x" * 100

    assert in_context(app, build_report, "big") == "x" * 100
    with pytest.raises(ResponseNotKept) as refused:
        in_context(app, build_report, "big")
    assert refused.value.original_status == 200
    assert runs == ["big"]


def test_its_own_commit_is_refused_and_the_key_released(app: Flask) -> None:
    @idempotent_function(key="order_id")
    def careless(order_id: str) -> None:
        db.session.add(Charge(amount=2))
        db.session.commit()

    with pytest.raises(StageError):
        in_context(app, careless, "o-6")
    assert charges(app) == 0
    [key] = stored_keys(app)
    assert key.locked_at is None


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (None, "is None"),
        ("", "is empty"),
        ("k" * 256, "is longer than IDEMPOTENCY_MAX_KEY_LENGTH"),
        ("a\x00b", "NUL character"),
    ],
)
def test_a_key_no_database_can_hold_raises_value_error(app: Flask, key: Any, problem: str) -> None:
    @idempotent_function(key="key")
    def task(key: Any) -> None:
        raise AssertionError("must not run")

    with pytest.raises(ValueError, match=problem):
        in_context(app, task, key)
    assert stored_keys(app) == []


def test_inside_an_idempotent_view_it_refuses_to_run(app: Flask) -> None:
    runs: list[str] = []
    raised: list[BaseException] = []

    @idempotent_function(key="key")
    def task(key: str) -> str:
        runs.append(key)
        return key

    @app.post("/nested")
    @idempotent
    def nested() -> dict[str, str]:
        return {"task": task("inner")}

    def record(sender: Flask, exception: BaseException, **extra: Any) -> None:
        raised.append(exception)

    with got_request_exception.connected_to(record, app):
        answered = app.test_client().post("/nested", headers={"Idempotency-Key": "outer"})

    assert answered.status_code == 500
    assert [type(error) for error in raised] == [RuntimeError]
    assert "cannot run while this context holds another key" in str(raised[0])
    assert runs == []
    assert [key.idempotency_key for key in stored_keys(app)] == ["outer"]


def test_without_an_application_context_it_raises_runtime_error() -> None:
    @idempotent_function(key="key")
    def task(key: str) -> str:
        return key

    with pytest.raises(RuntimeError, match="needs an application context"):
        task("k")


def _plain(order_id: str, *rest: str) -> None:
    pass


async def _asynchronous(order_id: str) -> None:
    pass


def _generator(order_id: str) -> Iterator[str]:
    yield order_id


@pytest.mark.parametrize(
    ("options", "function", "problem"),
    [
        ({"key": "missing"}, _plain, "key 'missing' names no parameter"),
        ({"key": "rest"}, _plain, "names its \\*args"),
        ({"key": 5}, _plain, "key must name an argument or be a callable"),
        ({"key": "order_id", "scope": 5}, _plain, "scope must be a string or a callable"),
        ({"key": "order_id", "exclude_arguments": ["nope"]}, _plain, "names no parameter"),
        ({"key": "order_id", "exclude_arguments": "order_id"}, _plain, "a list of names"),
        ({"key": "order_id", "ttl": 0}, _plain, "ttl must be positive"),
        ({"key": "order_id", "wait": "5"}, _plain, "wait must be a number of seconds"),
        ({"key": "order_id", "name": ""}, _plain, "name must be a non-empty string"),
        ({"key": "order_id"}, _asynchronous, "only sync functions"),
        ({"key": "order_id"}, _generator, "return a list"),
    ],
)
def test_options_it_cannot_work_with_raise_configuration_error(
    options: dict[str, Any], function: Callable[..., Any], problem: str
) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        idempotent_function(**options)(function)


def test_a_given_name_is_the_stored_scope_and_path(app: Flask) -> None:
    @idempotent_function(key="order_id", name="billing.charge")
    def charge(order_id: str) -> str:
        return order_id

    in_context(app, charge, "o-7")
    [key] = stored_keys(app)
    assert (key.scope, key.request_path) == ("billing.charge", "billing.charge")
    assert charge.__name__ == "charge"
