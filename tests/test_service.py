"""IdempotencyKeyService used directly, as code that does not fit the decorator would."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

from flask_idempotency import (
    FinalResponse,
    IdempotencyKey,
    IdempotencyKeyMismatch,
    IdempotencyKeyNotFound,
    IdempotencyKeyService,
    LockLost,
    RecoveryPoint,
    RequestInFlight,
)
from tests.helpers import charges, effects
from tests.ledger_app import Charge, Effect, db, idempotency


@pytest.fixture
def service(app: Flask) -> Any:
    with app.app_context():
        yield idempotency.service


def test_initialize_request_creates_a_locked_key_under_the_clients_name(
    service: IdempotencyKeyService,
) -> None:
    key = service.initialize_request("client-key", "POST", {"a": 1}, "/pay")

    assert isinstance(key, IdempotencyKey)
    assert key.idempotency_key == "client-key"
    assert key.recovery_point == "started"
    assert key.locked_at is not None and key.lock_token is not None
    assert service.retrieve("client-key").lock_token == key.lock_token


def test_initialize_request_without_a_key_makes_one(service: IdempotencyKeyService) -> None:
    key = service.initialize_request(None, "POST", {}, "/pay")
    assert len(key.idempotency_key) == 36


def test_initialize_request_refuses_a_held_key_and_a_different_request(
    service: IdempotencyKeyService,
) -> None:
    service.initialize_request("k", "POST", {"a": 1}, "/pay")

    with pytest.raises(RequestInFlight):
        service.initialize_request("k", "POST", {"a": 1}, "/pay")
    with pytest.raises(IdempotencyKeyMismatch):
        service.initialize_request("k", "POST", {"a": 2}, "/pay")


def test_work_stage_advances_then_finishes_in_transactions(service: IdempotencyKeyService) -> None:
    key = service.initialize_request("k", "POST", {}, "/pay")

    def reserve(session: Session) -> RecoveryPoint:
        session.add(Effect(order_ref="svc", stage="reserved"))
        return RecoveryPoint("reserved")

    def charge(session: Session) -> FinalResponse:
        session.add(Charge(amount=5))
        return FinalResponse(201, {"charged": 5})

    service.work_stage(key, reserve)
    assert service.retrieve("k").recovery_point == "reserved"
    service.work_stage(key, charge)

    stored = service.retrieve("k")
    assert stored.recovery_point == "finished"
    assert (stored.response_code, stored.response_body) == (201, {"charged": 5})
    assert stored.locked_at is None
    # A finished key is returned for replay, not claimed again.
    replay = service.initialize_request("k", "POST", {}, "/pay")
    assert replay.is_finished and replay.response_body == {"charged": 5}


def test_work_stage_accepts_medusas_dictionaries(service: IdempotencyKeyService) -> None:
    key = service.initialize_request("k", "POST", {}, "/pay")
    service.work_stage(key, lambda session: {"recovery_point": "tax_lines_created"})
    service.work_stage(key, lambda session: {"response_code": 200, "response_body": {"ok": 1}})

    assert service.retrieve("k").response_code == 200


def test_a_failing_work_stage_rolls_back_its_writes_and_keeps_the_recovery_point(
    app: Flask, service: IdempotencyKeyService
) -> None:
    key = service.initialize_request("k", "POST", {}, "/pay")

    def fails(session: Session) -> RecoveryPoint:
        session.add(Effect(order_ref="svc", stage="broken"))
        session.flush()
        raise ValueError("payment provider said no")

    with pytest.raises(ValueError):
        service.work_stage(key, fails)

    assert service.retrieve("k").recovery_point == "started"
    assert effects(app, "svc") == {}


def test_work_stage_by_a_holder_whose_lock_was_taken_over_is_rolled_back(
    app: Flask, service: IdempotencyKeyService
) -> None:
    first = service.initialize_request("k", "POST", {}, "/pay")
    db.session.execute(
        update(service.model).values(locked_at=first.locked_at - timedelta(hours=1))  # type: ignore[operator]
    )
    db.session.commit()
    second = service.initialize_request("k", "POST", {}, "/pay")
    assert second.lock_token != first.lock_token

    def charge(session: Session) -> RecoveryPoint:
        session.add(Charge(amount=1))
        return RecoveryPoint("charged")

    with pytest.raises(LockLost):
        service.work_stage(first, charge)
    assert charges(app) == 0
    service.work_stage(second, charge)
    assert charges(app) == 1


def test_create_retrieve_lock_and_update(service: IdempotencyKeyService) -> None:
    created = service.create({"request_method": "POST", "request_path": "/pay"})
    assert created.locked_at is None and len(created.idempotency_key) == 36

    found = service.retrieve({"id": created.id})
    assert found.idempotency_key == created.idempotency_key

    locked = service.lock(found)
    with pytest.raises(RequestInFlight):
        service.lock(service.retrieve(created.idempotency_key))

    service.update(locked, {"recovery_point": "tax_lines_created"})
    assert service.retrieve({"id": created.id}).recovery_point == "tax_lines_created"


def test_update_without_holding_the_lock_is_refused(service: IdempotencyKeyService) -> None:
    created = service.create({"idempotency_key": "unlocked"})
    with pytest.raises(RuntimeError, match="not locked"):
        service.update(created, {"recovery_point": "x"})


def test_retrieve_an_unknown_key_raises_not_found(service: IdempotencyKeyService) -> None:
    with pytest.raises(IdempotencyKeyNotFound):
        service.retrieve("nope")


def test_timestamps_keep_their_microseconds(service: IdempotencyKeyService) -> None:
    # Locks are compared to the microsecond; MariaDB's plain DATETIME would drop them.
    moment = datetime(2026, 1, 2, 3, 4, 5, 123456)
    created = service.create({"idempotency_key": "precise", "created_at": moment})

    assert service.retrieve({"id": created.id}).created_at == moment
