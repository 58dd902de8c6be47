"""Every JSON value written to request_params and response_body reads back equal, type
included, on every database."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from flask_idempotency import FinalResponse
from tests.ledger_app import idempotency

VALUES: list[Any] = [
    12345678901234567890,
    -(2**63) - 1,
    9007199254740993,
    1.0,
    1e16,
    1e300,
    -0.5,
    0.1 + 0.2,
    12,
    "12",
    "1e5",
    True,
    [1, 1.0, "1"],
    {"total": 10.0, "id": 2**64, "tags": ["a", "é", "😀"]},
]


def same_value(read: Any, written: Any) -> bool:
    """Equal, with every number of the same type at every depth (1 == 1.0 == True in Python)."""
    if type(read) is not type(written):
        return False
    if isinstance(written, dict):
        return read.keys() == written.keys() and all(
            same_value(read[name], value) for name, value in written.items()
        )
    if isinstance(written, list):
        return len(read) == len(written) and all(map(same_value, read, written))
    return bool(read == written)


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_finished_keys_body_reads_back_as_written(app: Flask, value: Any) -> None:
    with app.app_context():
        service = idempotency.service
        key = service.initialize_request("exact", "POST", {}, "/exact")
        service.work_stage(key, lambda session: FinalResponse(200, value))
        read = service.retrieve("exact").response_body

    assert same_value(read, value), f"{value!r} came back as {read!r}"


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_request_params_read_back_as_written(app: Flask, value: Any) -> None:
    with app.app_context():
        service = idempotency.service
        service.create({"idempotency_key": "params", "request_params": {"json": value}})
        read = service.retrieve("params").request_params

    assert same_value(read, {"json": value}), f"{value!r} came back as {read!r}"
