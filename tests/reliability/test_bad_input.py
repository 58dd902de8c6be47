"""Bad input of every kind, sent to the storefront in-process on each database: keys, bodies,
content types, methods and paths that no well-behaved client sends.

For every request: never a 5xx; every 4xx is ``application/problem+json`` whose ``status`` is the
HTTP status; what the idempotency layer refuses before the view runs (its own problem
types) stores no key; and a 4xx the view itself answers is stored and replayed byte for byte.
"""

from __future__ import annotations

import http.client
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.test import TestResponse

from example_app import UNSTORED_STATUSES
from example_app.cart_changes import MAX_QUANTITY
from example_app.extensions import db, idempotency
from flask_idempotency import InvalidIdempotencyKey
from flask_idempotency.config import DEFAULTS
from flask_idempotency.key_header import parse_key_header
from tests.reliability.conftest import (
    Figures,
    ServeStorefront,
    add_figures,
    another_storefront,
    scaled,
)
from tests.reliability.shop_client import stored_key_count
from tests.storefront.conftest import new_cart

HEADER = "Idempotency-Key"
PROBLEM_JSON = "application/problem+json"
# The idempotency layer's own problem types all start with this (the default base).
PROBLEMS = str(DEFAULTS["IDEMPOTENCY_PROBLEM_BASE_URL"])
DEFAULT_MAX_BODY_SIZE = 1024 * 1024
IDEMPOTENT_ENDPOINTS = frozenset(
    {
        "store.create_cart",
        "store.update_cart",
        "store.add_line_item",
        "store.update_line_item",
        "store.delete_line_item",
        "store.add_shipping_method",
        "store.add_payment_sessions",
        "store.set_payment_session",
        "store.complete_cart",
    }
)
# Stand-ins in generated paths for the ids of real carts and of the filled cart's line, made
# before the examples run.
EMPTY_CART, FILLED_CART, FILLED_LINE = "<empty cart>", "<filled cart>", "<filled line>"

hypothesis_settings = settings(
    max_examples=scaled(60, 1000),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def as_header_value(text: str) -> str:
    """What a server hands the app for a header sent as UTF-8: its bytes, read as latin-1.
    A lone surrogate goes as the bytes UTF-8 would give it, as a careless client might."""
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


# --- Keys --------------------------------------------------------------------------------------

VISIBLE_ASCII = "".join(chr(code) for code in range(0x21, 0x7F))
# A header value cannot carry CR or LF: a server would have split the line there.
any_character = st.characters(exclude_characters="\r\n")
control_character = st.characters(categories=["Cc"], exclude_characters="\r\n")
visible_text = st.text(st.sampled_from(VISIBLE_ASCII), max_size=40)

key_values = st.one_of(
    st.just(""),
    st.text(st.sampled_from(" \t"), min_size=1, max_size=6),
    st.text(st.sampled_from(VISIBLE_ASCII), min_size=1, max_size=400),
    st.text(any_character, max_size=400),
    # RFC 8941 strings, with good escapes, bad escapes, stray quotes, no closing quote.
    st.builds(
        lambda inner, closing: f'"{inner}{closing}',
        st.text(st.sampled_from(VISIBLE_ASCII + ' \\\\\\""'), max_size=300),
        st.sampled_from(['"', "", '"x', '\\"', "\\"]),
    ),
    st.builds(
        lambda before, control, after: before + control + after,
        visible_text,
        st.text(control_character, min_size=1, max_size=4),
        visible_text,
    ),
)
# No header at all (a key is generated), one, or the header repeated.
key_headers = st.lists(key_values, max_size=3).map(
    lambda values: [(HEADER, as_header_value(value)) for value in values]
)
# A comma in a bare key reads as the header sent twice.
valid_key = st.text(st.sampled_from(VISIBLE_ASCII.replace(",", "")), min_size=1, max_size=255)
maybe_valid_key_header: st.SearchStrategy[list[tuple[str, str]]] = st.one_of(
    st.just([]), valid_key.map(lambda value: [(HEADER, value)])
)


# --- Bodies ------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),
    # Python's json reads and writes these, though JSON has no such numbers.
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.text(),
)
json_documents = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)
quantities = st.one_of(
    st.integers(min_value=1, max_value=10),
    st.integers(),
    st.sampled_from(
        [MAX_QUANTITY, MAX_QUANTITY + 1, 2**31 - 1, 2**31, 2**63, 10**30, 1.0, 1e308, True]
    ),
    json_scalars,
    json_documents,
)
line_item_documents = st.fixed_dictionaries(
    {
        "variant_id": st.one_of(
            st.sampled_from(
                ["variant_mug", "variant_tshirt_m", "variant_hoodie_l", "variant_none", "prod_mug"]
            ),
            json_documents,
        ),
        "quantity": quantities,
    },
    optional={
        "note": json_documents,
        "email": st.sampled_from(["ada@example.com", "nope"]) | json_documents,
        "region_id": st.sampled_from(["reg_europe", "reg_north_america", "reg_none"]),
        "option_id": st.sampled_from(["so_europe_standard", "so_north_america_express"]),
        "provider_id": st.sampled_from(["manual", "stripe"]) | json_documents,
        "items": st.lists(st.fixed_dictionaries({"variant_id": st.just("variant_mug")})),
    },
)


def dumped(document: Any, ascii_only: bool) -> bytes:
    return json.dumps(document, ensure_ascii=ascii_only).encode()


json_bodies = st.one_of(
    st.builds(dumped, json_documents, st.booleans()),
    st.builds(dumped, line_item_documents, st.booleans()),
    # Lone surrogates: valid JSON escapes, not valid UTF-8 once decoded; and NUL.
    st.sampled_from([b'"\\ud800"', b'{"variant_id": "\\udfff", "quantity": 1}', b'{"\\u0000": 1}']),
)
malformed_bodies = st.one_of(
    st.binary(max_size=300),
    json_bodies.map(lambda body: body[:-1]),
    st.sampled_from(
        [
            b"{",
            b"[1,]",
            b"{'variant_id': 'variant_mug'}",
            b"\xff\xfe{\x00",
            b"1e99999",
            b"9" * 5000,  # beyond Python's limit on digits in an int
            b'{"quantity": 1} trailing',
            b'"\\x"',
            b"",
        ]
    ),
)
nested_bodies = st.one_of(
    st.integers(10, 5000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(10, 5000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
    st.integers(10, 5000).map(lambda depth: b"[" * depth),
    # Near Python's recursion limit, where parsing may still work and encoding may not.
    st.integers(sys.getrecursionlimit() - 150, sys.getrecursionlimit() + 5).map(
        lambda depth: b"[" * depth + b"]" * depth
    ),
)
huge_bodies = st.builds(
    lambda size, filler: filler * size,
    st.sampled_from(
        [DEFAULT_MAX_BODY_SIZE - 1, DEFAULT_MAX_BODY_SIZE, DEFAULT_MAX_BODY_SIZE + 1, 3 << 20]
    ),
    st.sampled_from([b"x", b"[", b" ", b"a=b&"]),
)


def multipart_part(name: str | None, filename: str | None, content: bytes) -> bytes:
    disposition = b"form-data"
    if name is not None:
        disposition += b'; name="' + name.encode() + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename.encode() + b'"'
    return b"--frontier\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + content + b"\r\n"


# Parts with and without names (a part must have one) and filenames, whatever they contain.
multipart_bodies = st.lists(
    st.builds(
        multipart_part,
        st.none() | st.text(max_size=10),
        st.none() | st.text(max_size=10),
        st.binary(max_size=100),
    ),
    min_size=1,
    max_size=3,
).map(lambda parts: b"".join(parts) + b"--frontier--\r\n")
json_content_types = st.sampled_from(
    [
        "application/json",
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=utf-16",
        "application/json; charset=no-such-charset",
        "application/merge-patch+json",
        "APPLICATION/JSON",
    ]
)
content_types = st.one_of(
    json_content_types,
    st.sampled_from(
        [
            None,
            "text/plain",
            "application/octet-stream",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "multipart/form-data; boundary=frontier",
            'multipart/form-data; boundary=""',
            "",
            ";;;",
            "*/*",
            "json",
        ]
    ),
    st.text(any_character, max_size=40).map(as_header_value),
)
any_body = st.one_of(json_bodies, malformed_bodies, nested_bodies, huge_bodies, multipart_bodies)
# (Content-Type, body): mostly a body with the type that makes the server read it that way.
typed_bodies = st.one_of(
    st.tuples(json_content_types, json_bodies),
    st.tuples(json_content_types, malformed_bodies),
    st.tuples(json_content_types, nested_bodies),
    st.tuples(content_types, huge_bodies),
    st.tuples(
        st.sampled_from(["multipart/form-data; boundary=frontier", "multipart/form-data"]),
        multipart_bodies | st.binary(max_size=200),
    ),
    st.tuples(
        st.just("application/x-www-form-urlencoded"),
        st.binary(max_size=200) | st.text(max_size=50).map(str.encode),
    ),
    st.tuples(content_types, any_body),
)


# --- Methods and paths -------------------------------------------------------------------------

TOKEN_CHARACTERS = "!#$%&'*+-.^_`|~" + "".join(
    chr(code) for code in [*range(0x30, 0x3A), *range(0x41, 0x5B), *range(0x61, 0x7B)]
)
methods = st.one_of(
    st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
    st.text(st.sampled_from(TOKEN_CHARACTERS), min_size=1, max_size=12),
    # A HEAD response has no body to hold a problem document.
).filter(lambda method: method.upper() != "HEAD")
ids = st.one_of(
    st.sampled_from([EMPTY_CART, FILLED_CART]),
    st.sampled_from(
        [
            "%00",
            "cart_%00",
            "..",
            ".",
            "%2e%2e",
            "..%2f..%2fadmin",
            "%ff",
            "%",
            "caf\u00e9",
            "\u202e\U0001f600",
            "cart_" + "0" * 36,
        ]
    ),
    st.text(max_size=30),
    st.text(st.sampled_from("ab_%0/.\\?#;"), max_size=20),
    st.integers(41, 20_000).map(lambda length: "x" * length),
)
path_templates = st.sampled_from(
    [
        "/store/carts/{}/line-items",
        f"/store/carts/{FILLED_CART}/line-items/{{}}",
        "/store/carts/{}/line-items/" + FILLED_LINE,
        "/store/carts/{}/shipping-methods",
        "/store/carts/{}/payment-sessions",
        "/store/carts/{}/payment-session",
        "/store/carts/{}/complete",
        "/store/carts/{}",
        "/store/shipping-options/{}",
        "/store/orders/{}",
        "/store/orders/cart/{}",
        "/admin/carts/{}/audit",
        "/store/products",
        "/store/products/{}",
        "/store/regions",
        "/store/regions/{}",
        "/store/carts",
        "/store/{}",
        "/{}",
    ]
)
queries = st.one_of(
    st.just(""),
    st.text(max_size=30).map(lambda text: "?" + text),
    st.just("?quantity=%00&quantity=\u00e9&=&&"),
)


# --- Sending and checking ----------------------------------------------------------------------


@dataclass
class Carts:
    empty: str
    filled: str
    line: str

    def fill_in(self, path: str) -> str:
        return (
            path.replace(EMPTY_CART, self.empty)
            .replace(FILLED_CART, self.filled)
            .replace(FILLED_LINE, self.line)
        )


@dataclass
class Prober:
    """Sends requests to the storefront and checks each against the properties."""

    app: Flask
    client: FlaskClient
    requests: int = 0

    def send(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> TestResponse:
        self.requests += 1
        return self.client.open(path, method=method, headers=headers, data=body)

    def check(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes | None = None,
    ) -> TestResponse:
        keys_before = stored_key_count(self.app)
        response = self.send(method, path, headers, body)
        status = response.status_code
        assert status < 500, describe(response)
        if status < 400:
            return response
        assert response.mimetype == PROBLEM_JSON, describe(response)
        problem = json.loads(response.data)
        assert problem["status"] == status, describe(response)
        if str(problem.get("type", "")).startswith(PROBLEMS) or status in UNSTORED_STATUSES:
            # Refused by the idempotency layer before anything ran, or "come back later":
            # nothing is stored.
            assert stored_key_count(self.app) == keys_before, describe(response)
        elif endpoint_of(self.app, method, path) in IDEMPOTENT_ENDPOINTS:
            # The view's own answer: stored, and replayed as it was under the same key.
            echoed = response.headers.get(HEADER)
            assert echoed is not None, describe(response)
            same_key = [(name, value) for name, value in headers if name != HEADER]
            again = self.send(method, path, [*same_key, (HEADER, echoed)], body)
            assert again.status_code == status, describe(again)
            assert again.headers.get("Idempotent-Replayed") == "true", describe(again)
            assert again.data == response.data
        return response


def endpoint_of(app: Flask, method: str, path: str) -> str | None:
    """The endpoint the storefront routes this request to, None when routing refuses it."""
    with app.test_request_context(path, method=method):
        rule = request.url_rule
        return rule.endpoint if rule is not None else None


def describe(response: TestResponse) -> str:
    return f"{response.status} {response.headers.get('Content-Type')!r} {response.data[:300]!r}"


def with_content_type(content_type: str | None) -> list[tuple[str, str]]:
    return [] if content_type is None else [("Content-Type", content_type)]


@pytest.fixture
def prober(storefront: Flask, figures: Figures) -> Iterator[Prober]:
    probe = Prober(storefront, storefront.test_client())
    yield probe
    add_figures(figures, requests=probe.requests)


@pytest.fixture
def carts(prober: Prober) -> Carts:
    filled = new_cart(prober.client, ("variant_mug", 1))
    line = prober.client.get(f"/store/carts/{filled}").json["cart"]["items"][0]["id"]  # type: ignore[index]
    prober.requests += 4
    return Carts(new_cart(prober.client), filled, line)


# --- The properties ----------------------------------------------------------------------------


@hypothesis_settings
@given(
    keys=key_headers,
    target=st.sampled_from(
        [
            "/store/carts",
            f"/store/carts/{FILLED_CART}/line-items",
            f"/store/carts/{EMPTY_CART}/complete",
        ]
    ),
)
# Two headers that a server's join makes one valid key.
@example(keys=[(HEADER, '"'), (HEADER, '"')], target="/store/carts")
def test_any_key_header(
    prober: Prober, carts: Carts, keys: list[tuple[str, str]], target: str
) -> None:
    fields = {"variant_id": "variant_mug", "quantity": 1} if target.endswith("line-items") else {}
    headers = [("Content-Type", "application/json"), *keys]

    response = prober.check("POST", carts.fill_in(target), headers, json.dumps(fields).encode())

    if len(keys) > 1 and not reads_as_one_key([value for _, value in keys]):
        assert response.status_code == 400
        assert response.json["type"] == PROBLEMS + "invalid-idempotency-key"  # type: ignore[index]


def reads_as_one_key(values: list[str]) -> bool:
    """Whether headers sent several times reach the app as one valid key. A server joins them
    with a comma (RFC 9110, section 5.3), and some joins are one key sent once: '"' and '"'
    arrive as '", "', the quoted key ", "."""
    try:
        parse_key_header([", ".join(values)], header=HEADER, max_length=255)
    except InvalidIdempotencyKey:
        return False
    return True


@hypothesis_settings
@given(
    typed_body=typed_bodies,
    keys=maybe_valid_key_header,
    target=st.sampled_from(
        [
            f"/store/carts/{FILLED_CART}/line-items",
            f"/store/carts/{EMPTY_CART}/line-items",
            "/store/carts/cart_none/line-items",
            f"/store/carts/{FILLED_CART}/line-items/{FILLED_LINE}",
            f"/store/carts/{FILLED_CART}",
            f"/store/carts/{FILLED_CART}/shipping-methods",
            f"/store/carts/{FILLED_CART}/payment-session",
            "/store/carts",
            f"/store/carts/{EMPTY_CART}/complete",
        ]
    ),
)
def test_any_body(
    prober: Prober,
    carts: Carts,
    typed_body: tuple[str | None, bytes],
    keys: list[tuple[str, str]],
    target: str,
) -> None:
    content_type, body = typed_body
    prober.check("POST", carts.fill_in(target), [*with_content_type(content_type), *keys], body)


@hypothesis_settings
@given(
    line_items=st.lists(
        st.builds(dumped, line_item_documents, st.booleans()), min_size=1, max_size=4
    ),
    keys=maybe_valid_key_header,
)
def test_any_line_items_then_completion(
    prober: Prober, line_items: list[bytes], keys: list[tuple[str, str]]
) -> None:
    # A cart of its own, so that what the line items add up to is completed too.
    cart_id = new_cart(prober.client)
    prober.requests += 1
    for body in line_items:
        prober.check(
            "POST",
            f"/store/carts/{cart_id}/line-items",
            [("Content-Type", "application/json"), *keys],
            body,
        )
    prober.check("POST", f"/store/carts/{cart_id}/complete", [])


@hypothesis_settings
@given(
    method=methods,
    template=path_templates,
    cart_id=ids,
    query=queries,
    keys=st.one_of(maybe_valid_key_header, key_headers),
    body=st.one_of(st.none(), json_bodies, malformed_bodies),
    content_type=content_types,
)
def test_any_method_and_path(
    prober: Prober,
    carts: Carts,
    method: str,
    template: str,
    cart_id: str,
    query: str,
    keys: list[tuple[str, str]],
    body: bytes | None,
    content_type: str | None,
) -> None:
    path = carts.fill_in(template.format(cart_id)) + query
    prober.check(method, path, [*with_content_type(content_type), *keys], body)


def test_json_nested_about_as_deep_as_the_recursion_limit_is_a_400_not_a_500(
    prober: Prober, carts: Carts
) -> None:
    # Parsing and encoding JSON recurse once per level: where exactly a body becomes too deep
    # for one of them depends on how deep the stack already is, so try every depth near it.
    limit = sys.getrecursionlimit()
    for depth in range(limit - 200, limit + 5):
        prober.check(
            "POST",
            f"/store/carts/{carts.filled}/line-items",
            [("Content-Type", "application/json")],
            b"[" * depth + b"]" * depth,
        )


# --- Bodies over the size limit ----------------------------------------------------------------


def stored_keys_named(app: Flask, key: str) -> int:
    with app.app_context():
        model = idempotency.model
        rows = db.session.scalars(select(model.id).where(model.idempotency_key == key)).all()
        db.session.remove()
    return len(rows)


def padded_line_item(size: int) -> bytes:
    """A valid line-item body of exactly ``size`` bytes: JSON allows any amount of space."""
    head, tail = b'{"variant_id": "variant_mug", "quantity": 1', b"}"
    return head + b" " * (size - len(head) - len(tail)) + tail


def assert_too_large(prober: Prober, cart_id: str, body: bytes, key: str, limit: int) -> None:
    keys_before = stored_key_count(prober.app)
    response = prober.send(
        "POST",
        f"/store/carts/{cart_id}/line-items",
        [("Content-Type", "application/json"), (HEADER, key)],
        body,
    )

    assert response.status_code == 413, describe(response)
    assert response.mimetype == PROBLEM_JSON
    problem = json.loads(response.data)
    assert problem["status"] == 413
    assert problem["type"] == PROBLEMS + "request-body-too-large"
    assert str(limit) in problem["detail"]
    assert stored_key_count(prober.app) == keys_before
    assert stored_keys_named(prober.app, key) == 0


def test_a_body_over_the_default_limit_is_a_413_and_stores_no_key(
    prober: Prober, carts: Carts
) -> None:
    assert prober.app.config["IDEMPOTENCY_MAX_BODY_SIZE"] == DEFAULT_MAX_BODY_SIZE

    assert_too_large(
        prober,
        carts.filled,
        padded_line_item(DEFAULT_MAX_BODY_SIZE + 1),
        "too-big",
        DEFAULT_MAX_BODY_SIZE,
    )
    assert_too_large(
        prober,
        carts.filled,
        b"[" * (4 * DEFAULT_MAX_BODY_SIZE),
        "far-too-big",
        DEFAULT_MAX_BODY_SIZE,
    )

    at_limit = prober.check(
        "POST",
        f"/store/carts/{carts.filled}/line-items",
        [("Content-Type", "application/json"), (HEADER, "just-fits")],
        padded_line_item(DEFAULT_MAX_BODY_SIZE),
    )
    assert at_limit.status_code == 200, describe(at_limit)
    assert stored_keys_named(prober.app, "just-fits") == 1


def test_a_smaller_configured_limit_is_a_413_and_stores_no_key(
    prober: Prober, carts: Carts, database_url: str
) -> None:
    limit = 2000
    with another_storefront(database_url, IDEMPOTENCY_MAX_BODY_SIZE=limit) as app:
        small = Prober(app, app.test_client())

        assert_too_large(small, carts.filled, padded_line_item(limit + 1), "over-2000", limit)
        assert_too_large(small, carts.filled, b"x" * (limit * 10), "way-over-2000", limit)

        at_limit = small.check(
            "POST",
            f"/store/carts/{carts.filled}/line-items",
            [("Content-Type", "application/json"), (HEADER, "at-2000")],
            padded_line_item(limit),
        )
        assert at_limit.status_code == 200, describe(at_limit)
        assert stored_keys_named(app, "at-2000") == 1
        prober.requests += small.requests


# --- A key header sent twice, through a real server ---------------------------------------------


def post_with_key_headers(port: int, path: str, values: list[str]) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("POST", path)
        for value in values:
            connection.putheader(HEADER, value)
        connection.putheader("Content-Length", "0")
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def test_a_key_header_sent_twice_to_gunicorn_is_a_400_and_stores_no_key(
    storefront: Flask, serve_storefront: ServeStorefront, figures: Figures
) -> None:
    # gunicorn hands the app the two values joined by a comma, as one header.
    sent_twice = [["a", "b"], ["same", "same"], ["one", ""], ['"quoted"', '"quoted"']]
    keys_before = stored_key_count(storefront)
    with serve_storefront(workers=1) as server:
        for values in sent_twice:
            status, content_type, body = post_with_key_headers(server.port, "/store/carts", values)

            assert status == 400, (values, body)
            assert content_type == PROBLEM_JSON
            assert json.loads(body)["type"] == PROBLEMS + "invalid-idempotency-key"

    assert stored_key_count(storefront) == keys_before
    add_figures(figures, requests=len(sent_twice))
