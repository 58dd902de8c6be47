"""Every error is RFC 9457 problem+json and also a Medusa error body: ``message`` (what Medusa's
clients show), ``medusa_type`` (Medusa's ``type``) and Medusa's ``code`` where it has one; the
extension's own errors too, when the storefront answers them."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from example_app.extensions import db, idempotency
from flask_idempotency.config import DEFAULTS
from tests.helpers import headers
from tests.storefront.conftest import MUG, new_cart

EXTENSION_PROBLEMS = str(DEFAULTS["IDEMPOTENCY_PROBLEM_BASE_URL"])


def problem_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.json
    assert {"type", "title", "status", "detail", "message", "medusa_type"} <= set(body)
    assert body["status"] == status
    assert body["message"] == body["detail"]
    return body


def test_the_storefronts_own_problems_carry_medusas_members(client: FlaskClient) -> None:
    missing = problem_of(client.get("/store/carts/cart_gone"), 404)
    invalid = problem_of(client.post("/store/carts", json={"region_id": 5}), 400)
    no_route = problem_of(client.get("/store/no-such-thing"), 404)
    wrong_method = problem_of(client.put("/store/carts"), 405)

    assert (missing["type"], missing["title"], missing["medusa_type"]) == (
        "about:blank",
        "Not Found",
        "not_found",
    )
    assert missing["message"] == "Cart with cart_gone was not found"
    assert "code" not in missing
    assert (invalid["medusa_type"], invalid["message"]) == (
        "invalid_data",
        "region_id must be a string",
    )
    assert no_route["medusa_type"] == "not_found"
    assert wrong_method["medusa_type"] == "not_allowed"


def test_a_500_carries_medusas_unknown_error(client: FlaskClient) -> None:
    cart_id = new_cart(client, (MUG, 1))

    failed = client.post(
        f"/store/carts/{cart_id}/complete",
        headers=headers("boom", **{"X-Storefront-Fault": "tax_lines_created"}),
    )

    body = problem_of(failed, 500)
    assert (body["medusa_type"], body["code"]) == ("unknown_error", "unknown_error")
    assert "Traceback" not in body["message"]


def test_the_extensions_problems_keep_their_type_and_gain_medusas_members(
    app: Flask, client: FlaskClient
) -> None:
    created = client.post("/store/carts", headers=headers("reused"))
    cart_id = created.json["cart"]["id"]  # type: ignore[index]

    reused = client.post(
        f"/store/carts/{cart_id}/line-items",
        json={"variant_id": MUG, "quantity": 1},
        headers=headers("reused"),
    )
    twice = client.post(
        "/store/carts", headers=[("Idempotency-Key", "a"), ("Idempotency-Key", "b")]
    )

    mismatch = problem_of(reused, 422)
    assert mismatch["type"] == EXTENSION_PROBLEMS + "idempotency-key-reused"
    assert (mismatch["medusa_type"], mismatch["code"]) == ("invalid_data", "invalid_request_error")
    assert "Link" in reused.headers
    bad_key = problem_of(twice, 400)
    assert bad_key["type"] == EXTENSION_PROBLEMS + "invalid-idempotency-key"
    assert bad_key["medusa_type"] == "invalid_data"


def test_a_key_in_flight_is_medusas_409_conflict(app: Flask, client: FlaskClient) -> None:
    cart_id = new_cart(client, (MUG, 1))
    path = f"/store/carts/{cart_id}/complete"
    client.post(path, headers=headers("held", **{"X-Storefront-Fault": "tax_lines_created"}))
    with app.app_context():
        # As a request still running would hold it.
        service = idempotency.service
        service.lock(service.retrieve({"scope": "anonymous", "idempotency_key": "held"}))
        db.session.remove()

    in_flight = client.post(path, headers=headers("held"))

    body = problem_of(in_flight, 409)
    assert body["type"] == EXTENSION_PROBLEMS + "request-in-flight"
    assert (body["medusa_type"], body["code"]) == ("conflict", "invalid_state_error")
    assert in_flight.headers["Retry-After"] == "1"
