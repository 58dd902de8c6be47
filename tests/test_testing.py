"""The helpers for an application's own tests: ``assert_idempotent`` passes for a view whose
retry is an identical replay and says what differed otherwise; ``IdempotentClient`` sends a
fresh key with every unsafe request; the pytest plugin offers both as fixtures, loaded through
its entry point, and leaves projects that do not use them as they were."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, redirect, request
from flask.testing import FlaskClient

from flask_idempotency import idempotent
from flask_idempotency.testing import IdempotentClient, assert_idempotent, idempotent_client
from tests.helpers import charges, headers, stored_keys
from tests.ledger_app import Charge, db

sqlite_only = pytest.mark.parametrize("database_kind", ["sqlite"])


def failure_of(client: FlaskClient, method: str, url: str, **kwargs: Any) -> str:
    with pytest.raises(AssertionError) as failure:
        assert_idempotent(client, method, url, **kwargs)
    return str(failure.value)


def test_a_retry_that_replays_passes_and_the_view_ran_once(app: Flask, client: FlaskClient) -> None:
    first, retry = assert_idempotent(client, "POST", "/charges", json={"amount": 100})

    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json() == first.get_json()
    assert retry.headers["Location"] == first.headers["Location"]
    # One fresh key, sent both times.
    assert retry.headers["Idempotency-Key"] == first.headers["Idempotency-Key"]
    assert [key.idempotency_key for key in stored_keys(app)] == [first.headers["Idempotency-Key"]]
    assert charges(app) == 1


@sqlite_only
def test_a_key_given_in_the_headers_is_sent_as_is(app: Flask, client: FlaskClient) -> None:
    first, retry = assert_idempotent(
        client, "POST", "/charges", json={"amount": 5}, headers=headers("order-7")
    )

    assert first.headers["Idempotency-Key"] == retry.headers["Idempotency-Key"] == "order-7"
    assert [key.idempotency_key for key in stored_keys(app)] == ["order-7"]


@sqlite_only
def test_the_apps_own_header_name_carries_the_key(make_app: Callable[..., Flask]) -> None:
    app = make_app(IDEMPOTENCY_HEADER="X-Request-Key")

    first, retry = assert_idempotent(app.test_client(), "POST", "/charges", json={"amount": 5})

    assert retry.headers["X-Request-Key"] == first.headers["X-Request-Key"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert charges(app) == 1


@sqlite_only
def test_an_uploaded_file_is_sent_the_same_both_times(app: Flask, client: FlaskClient) -> None:
    @app.post("/receipts")
    @idempotent
    def upload_receipt() -> Any:
        upload = request.files["receipt"]
        content = upload.read()
        db.session.add(Charge(amount=len(content), note=upload.filename or ""))
        return {"name": upload.filename, "size": len(content)}, 201

    first, _ = assert_idempotent(
        client,
        "POST",
        "/receipts",
        data={"receipt": (BytesIO(b"two teas"), "receipt.txt")},
        content_type="multipart/form-data",
    )

    assert first.get_json() == {"name": "receipt.txt", "size": 8}
    assert charges(app) == 1


@sqlite_only
def test_a_view_that_is_not_idempotent_fails_with_what_differed(
    app: Flask, client: FlaskClient
) -> None:
    @app.post("/plain-charges")
    def plain_charge() -> Any:
        charge = Charge(amount=100)
        db.session.add(charge)
        db.session.commit()
        return {"id": charge.id}, 201, {"Location": f"/charges/{charge.id}"}

    message = failure_of(client, "POST", "/plain-charges", headers=headers("order-8"))

    assert message.startswith(
        "POST /plain-charges sent twice with Idempotency-Key: 'order-8': the retry is not an "
        "identical replay of the first response:\n"
    )
    assert "- the retry carries no Idempotent-Replayed: true" in message
    assert "- body: differs from byte 6: b'{\"id\":1}\\n' (9 bytes) first, " in message
    assert "- header Location: '/charges/1' first, '/charges/2' on the retry" in message
    assert "does not echo the Idempotency-Key header" in message
    assert "status:" not in message
    assert charges(app) == 2


@sqlite_only
def test_a_replay_that_differs_from_the_first_response_fails(
    app: Flask, client: FlaskClient
) -> None:
    served = []

    @app.after_request
    def stamp(response: Response) -> Response:
        # A hook after the view changes what the client got; the replay is of what the view
        # returned, stamped anew.
        served.append(1)
        response.set_data(response.get_data() + f" served {len(served)}".encode())
        response.headers["Cache-Control"] = f"max-age={len(served)}"
        return response

    message = failure_of(client, "POST", "/text")

    assert "- body: differs from byte 34:" in message
    assert "- header Cache-Control: 'max-age=1' first, 'max-age=2' on the retry" in message
    assert "Idempotent-Replayed" not in message


@sqlite_only
def test_a_response_too_large_to_keep_fails_on_its_410(make_app: Callable[..., Flask]) -> None:
    app = make_app(IDEMPOTENCY_MAX_RESPONSE_SIZE=8)

    message = failure_of(app.test_client(), "POST", "/charges", json={"amount": 5})

    assert "- status: 201 first, 410 on the retry" in message
    assert "larger than IDEMPOTENCY_MAX_RESPONSE_SIZE" in message
    assert charges(app) == 1


@sqlite_only
def test_an_unstored_status_fails_and_says_why(make_app: Callable[..., Flask]) -> None:
    app = make_app(IDEMPOTENCY_UNSTORED_STATUSES=[503])

    message = failure_of(app.test_client(), "POST", "/charges?teapot=1", json={"amount": 5})

    assert "- the retry carries no Idempotent-Replayed: true" in message
    assert "status 503 is in IDEMPOTENCY_UNSTORED_STATUSES" in message


@sqlite_only
def test_a_key_used_before_fails(app: Flask, client: FlaskClient) -> None:
    client.post("/charges", json={"amount": 5}, headers=headers("order-9"))

    message = failure_of(client, "POST", "/charges", json={"amount": 5}, headers=headers("order-9"))

    assert "- the first response already carries Idempotent-Replayed: true" in message
    assert charges(app) == 1


def test_an_app_without_the_extension_fails_and_says_so() -> None:
    app = Flask(__name__)
    runs = []

    @app.post("/notes")
    def add_note() -> Any:
        runs.append(1)
        return {"notes": len(runs)}

    message = failure_of(app.test_client(), "POST", "/notes")

    assert "- the retry carries no Idempotent-Replayed: true" in message
    assert "flask-idempotency is not initialised on this app" in message
    assert runs == [1, 1]


@pytest.mark.parametrize("method", ["GET", "head", "OPTIONS"])
def test_a_safe_method_is_refused(method: str) -> None:
    with pytest.raises(ValueError, match="idempotent by definition"):
        assert_idempotent(Flask(__name__).test_client(), method, "/")


def test_each_unsafe_request_gets_a_fresh_key_and_a_retry_with_the_last_one_replays(
    app: Flask,
) -> None:
    client = idempotent_client(app)
    assert client.last_key is None

    first = client.post("/charges", json={"amount": 5})
    first_key = client.last_key
    second = client.post("/charges", json={"amount": 5})
    retry = client.post("/charges", json={"amount": 5}, headers=headers(client.last_key))

    assert first.headers["Idempotency-Key"] == first_key
    assert second.headers["Idempotency-Key"] == client.last_key != first_key
    assert "Idempotent-Replayed" not in second.headers
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json() == second.get_json()
    assert charges(app) == 2
    assert len(stored_keys(app)) == 2


@sqlite_only
def test_a_view_that_requires_a_key_gets_one(app: Flask) -> None:
    assert app.test_client().post("/required").status_code == 400
    assert idempotent_client(app).post("/required").status_code == 200


@sqlite_only
def test_a_key_given_is_sent_as_is(app: Flask) -> None:
    client = idempotent_client(app)

    response = client.post("/charges", json={"amount": 5}, headers=headers("mine"))

    assert response.headers["Idempotency-Key"] == client.last_key == "mine"
    assert [key.idempotency_key for key in stored_keys(app)] == ["mine"]


@sqlite_only
def test_safe_requests_get_no_key(app: Flask) -> None:
    @app.route("/seen-key", methods=["GET", "OPTIONS"])
    def seen_key() -> Any:
        return {"key": request.headers.get("Idempotency-Key")}

    client = idempotent_client(app)
    client.post("/charges", json={"amount": 5})
    key = client.last_key

    assert client.get("/seen-key").get_json() == {"key": None}
    assert client.options("/seen-key").get_json() == {"key": None}
    assert client.head("/seen-key").status_code == 200
    assert client.last_key == key
    assert len(stored_keys(app)) == 1


@sqlite_only
def test_a_redirect_that_keeps_the_method_keeps_the_key(app: Flask) -> None:
    sent_to_old_path = []

    @app.post("/v1/charges")
    def moved() -> Any:
        sent_to_old_path.append(request.headers["Idempotency-Key"])
        return redirect("/charges", code=307)

    client = idempotent_client(app)
    response = client.post("/v1/charges", json={"amount": 5}, follow_redirects=True)

    assert response.status_code == 201
    assert [response.headers["Idempotency-Key"]] == sent_to_old_path == [client.last_key]
    assert [key.idempotency_key for key in stored_keys(app)] == [client.last_key]


@sqlite_only
def test_as_the_apps_test_client_class_it_uses_the_apps_header(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(IDEMPOTENCY_HEADER="X-Request-Key")
    app.test_client_class = IdempotentClient
    client = app.test_client()
    assert isinstance(client, IdempotentClient)

    first = client.post("/charges", json={"amount": 5})
    retry = client.post("/charges", json={"amount": 5}, headers={"X-Request-Key": client.last_key})

    assert first.headers["X-Request-Key"] == client.last_key
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert charges(app) == 1


def python_run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_helpers_import_without_pytest(tmp_path: Path) -> None:
    # unittest suites use them too.
    run = python_run(
        """
        import sys
        import flask_idempotency.testing
        print(sorted(name for name in sys.modules if "pytest" in name))
        """,
        tmp_path,
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_loading_the_plugin_imports_nothing_more(tmp_path: Path) -> None:
    # Every pytest run where flask-idempotency is installed loads the plugin.
    run = python_run(
        """
        import sys
        import pytest, flask_idempotency
        before = set(sys.modules)
        import flask_idempotency.pytest_plugin
        print(sorted(set(sys.modules) - before))
        """,
        tmp_path,
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['flask_idempotency.pytest_plugin']"


IDEMPOTENT_PROJECT_CONFTEST = """
    import pytest
    from flask import Flask, request
    from flask_sqlalchemy import SQLAlchemy

    from flask_idempotency import Idempotency, idempotent


    @pytest.fixture
    def app(tmp_path):
        app = Flask(__name__)
        app.config.update(TESTING=True, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/app.db")
        db = SQLAlchemy(app)
        Idempotency(app, db, scope="global")
        app.config["ORDERS"] = orders = []

        @app.post("/orders")
        @idempotent
        def place_order():
            orders.append(request.get_json())
            return {"order": len(orders)}, 201, {"Location": f"/orders/{len(orders)}"}

        @app.post("/visits")
        def count_visit():
            orders.append("visit")
            return {"visits": len(orders)}

        with app.app_context():
            db.create_all()
        yield app
        with app.app_context():
            db.engine.dispose()
"""

IDEMPOTENT_PROJECT_TESTS = """
    def test_placing_an_order_is_idempotent(app, client, assert_idempotent):
        first, retry = assert_idempotent(client, "POST", "/orders", json={"sku": "tea"})
        assert first.status_code == 201
        assert app.config["ORDERS"] == [{"sku": "tea"}]


    def test_a_retry_with_the_last_key_replays(app, idempotent_client):
        first = idempotent_client.post("/orders", json={"sku": "tea"})
        key = idempotent_client.last_key
        retry = idempotent_client.post(
            "/orders", json={"sku": "tea"}, headers={"Idempotency-Key": key}
        )
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert retry.get_json() == first.get_json()
        assert app.config["ORDERS"] == [{"sku": "tea"}]


    def test_counting_a_visit_is_idempotent(idempotent_client, assert_idempotent):
        assert_idempotent(idempotent_client, "POST", "/visits")
"""


def test_the_plugin_loads_through_its_entry_point(pytester: pytest.Pytester) -> None:
    # No pytest_plugins anywhere: the fixtures come from the pytest11 entry point.
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makeconftest(textwrap.dedent(IDEMPOTENT_PROJECT_CONFTEST))
    pytester.makepyfile(test_orders=textwrap.dedent(IDEMPOTENT_PROJECT_TESTS))

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)

    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "plugins: *flask-idempotency-*",
            # The failure shows the test's own line, not the helper's insides.
            '>*assert_idempotent(idempotent_client, "POST", "/visits")',
            "*AssertionError: POST /visits sent twice with Idempotency-Key: '*': the retry is not*",
            "*- the retry carries no Idempotent-Replayed: true*",
            "*FAILED test_orders.py::test_counting_a_visit_is_idempotent*",
        ]
    )


def test_a_project_without_flask_sqlalchemy_runs_as_before(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makeconftest(
        textwrap.dedent(
            """
            import pytest
            from flask import Flask


            @pytest.fixture
            def app():
                app = Flask(__name__)

                @app.post("/ping")
                def ping():
                    return {"pong": True}

                return app
            """
        )
    )
    pytester.makepyfile(
        test_ping=textwrap.dedent(
            """
            def test_ping(client):
                assert client.post("/ping").get_json() == {"pong": True}


            def test_without_flask():
                assert 1 + 1 == 2
            """
        )
    )

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)

    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["plugins: *flask-idempotency-*"])
