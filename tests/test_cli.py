"""``flask idempotency ...``: what an operator sees and what each command changes.

Time moves by rewriting a key's times with the database's own clock, never by sleeping.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import event, select, update
from werkzeug.test import TestResponse

from flask_idempotency import IdempotencyKey
from flask_idempotency.cli import parse_duration
from flask_idempotency.maintenance import KeyMaintenance
from tests.helpers import effects, headers
from tests.ledger_app import create_app, db, idempotency

LOCK_TIMEOUT = 90
# The ledger app's scope is "authorization": Basic credentials give "basic:<user>", no header
# gives "anonymous".
ANONYMOUS = "anonymous"


def basic(user: str) -> dict[str, str]:
    credentials = base64.b64encode(f"{user}:password".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


def cli(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["idempotency", *args])


def charge(app: Flask, key: str, *, user: str | None = None, **payload: Any) -> TestResponse:
    extra = basic(user) if user else {}
    body = {"amount": 1, **payload}
    return app.test_client().post("/charges", json=body, headers=headers(key, **extra))


def order_left_at_reserved(app: Flask, key: str) -> None:
    """A request of three stages that failed in the second: resumable after "reserved"."""
    failed = app.test_client().post(
        f"/orders/{key}", headers=headers(key, **{"X-Fail-At": "charged"})
    )
    assert failed.status_code == 500


def hold(app: Flask, key: str, scope: str = ANONYMOUS) -> None:
    """Claim ``key`` as a request would, and keep it locked as a worker inside its view does."""
    with app.app_context():
        held = idempotency.service.initialize_request(key, "POST", {}, "/charges", scope=scope)
    assert held.lock_token is not None


def move_back(app: Flask, key: str, **seconds_ago: float) -> None:
    """Set a key's times (``expires_at``, ``locked_at``) to that many seconds before now, by the
    database's clock."""
    with app.app_context():
        service = idempotency.service
        table = service.table
        db.session.execute(
            update(table)
            .where(table.c.idempotency_key == key)
            .values({column: service.clock.later_by(-ago) for column, ago in seconds_ago.items()})
        )
        db.session.commit()


def stored(app: Flask, key: str, scope: str = ANONYMOUS) -> IdempotencyKey | None:
    with app.app_context():
        model = idempotency.model
        found: IdempotencyKey | None = db.session.scalar(
            select(model).filter_by(idempotency_key=key, scope=scope)
        )
        return found


def stored_names(app: Flask) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(idempotency.model.idempotency_key)))


def shown(output: str) -> dict[str, str]:
    """The ``label: value`` lines of ``show``."""
    pairs = (line.split(":", 1) for line in output.splitlines())
    return {label: value.strip() for label, value in pairs}


def listed_keys(output: str) -> list[str]:
    """The last column of ``list``, the quoted key, of every line after the header."""
    return [line.rsplit("  ", 1)[-1] for line in output.splitlines()[1:]]


@pytest.fixture
def offline_app(tmp_path: Path) -> Flask:
    """An app whose database is never reached: for help and for arguments refused first."""
    return create_app("sqlite://", tmp_path)


# Help and arguments -------------------------------------------------------------------------


def test_the_group_lists_its_commands_and_exit_statuses(offline_app: Flask) -> None:
    result = cli(offline_app, "--help")

    assert result.exit_code == 0
    for command in ("purge", "show", "list", "unlock", "stats"):
        assert f"  {command} " in result.output
    assert "Exit status: 0 done, 1 refused or not found, 2 usage error" in result.output


@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        ("purge", ["--batch-size", "--older-than DURATION", "--dry-run", "--progress"]),
        ("show", ["KEY", "--scope", "--json", "in flight, resumable or expired"]),
        ("list", ["--locked", "--expired", "--recovery-point NAME", "--limit", "--json"]),
        ("unlock", ["KEY", "--scope", "--force", "IDEMPOTENCY_LOCK_TIMEOUT"]),
        ("stats", ["--json", "by recovery point"]),
    ],
)
def test_each_command_explains_itself(
    offline_app: Flask, command: str, mentions: list[str]
) -> None:
    result = cli(offline_app, command, "--help")

    assert result.exit_code == 0
    assert f"idempotency {command} [OPTIONS]" in result.output
    for mention in mentions:
        assert mention in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("1.5", 1.5),
        ("30s", 30),
        ("15m", 15 * 60),
        ("12h", 12 * 3600),
        ("7d", 7 * 86400),
        (" 2W ", 14 * 86400),
        ("1h30m", 5400),
    ],
)
def test_durations_are_seconds_or_numbers_with_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "-5m", "1h-", "", "h", "1.h", "nan", "1e3"])
def test_a_bad_duration_is_a_usage_error(offline_app: Flask, text: str) -> None:
    result = cli(offline_app, "purge", f"--older-than={text}")

    assert result.exit_code == 2
    assert "is not a duration" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("arguments", [["purge", "--batch-size", "0"], ["list", "--limit", "0"]])
def test_counts_below_one_are_usage_errors(offline_app: Flask, arguments: list[str]) -> None:
    result = cli(offline_app, *arguments)

    assert result.exit_code == 2
    assert "x>=1" in result.output


# purge ------------------------------------------------------------------------------------


def test_purge_deletes_expired_keys_that_no_live_request_holds(app: Flask) -> None:
    charge(app, "expired")
    charge(app, "fresh")
    hold(app, "expired-but-held")
    hold(app, "expired-and-abandoned")
    move_back(app, "expired", expires_at=3600)
    move_back(app, "expired-but-held", expires_at=3600)
    move_back(app, "expired-and-abandoned", expires_at=3600, locked_at=LOCK_TIMEOUT + 1)

    result = cli(app, "purge")

    assert result.exit_code == 0, result.output
    assert result.output == "Deleted 2 expired idempotency keys.\n"
    assert stored_names(app) == {"fresh", "expired-but-held"}


def test_a_dry_run_counts_what_purge_would_delete_and_deletes_nothing(app: Flask) -> None:
    for name in ("a", "b", "c"):
        charge(app, name)
        move_back(app, name, expires_at=60)
    charge(app, "fresh")

    result = cli(app, "purge", "--dry-run")

    assert result.exit_code == 0, result.output
    assert result.output == "Would delete 3 expired idempotency keys.\n"
    assert stored_names(app) == {"a", "b", "c", "fresh"}


def test_older_than_purges_only_keys_expired_at_least_that_long_ago(app: Flask) -> None:
    charge(app, "two-hours-ago")
    charge(app, "ten-minutes-ago")
    move_back(app, "two-hours-ago", expires_at=2 * 3600)
    move_back(app, "ten-minutes-ago", expires_at=10 * 60)

    result = cli(app, "purge", "--older-than", "1h")

    assert result.exit_code == 0, result.output
    assert result.output == "Deleted 1 expired idempotency key.\n"
    assert stored_names(app) == {"ten-minutes-ago"}


def test_purge_with_progress_deletes_every_batch(app: Flask) -> None:
    for number in range(5):
        charge(app, f"expired-{number}")
        move_back(app, f"expired-{number}", expires_at=60)

    result = cli(app, "purge", "--batch-size", "2", "--progress")

    assert result.exit_code == 0, result.output
    # Off a terminal, click prints a bar's label only.
    assert result.output == (
        "Purging 5 expired idempotency keys\nDeleted 5 expired idempotency keys.\n"
    )
    assert stored_names(app) == set()


def test_purge_reports_each_batch_as_it_commits(app: Flask) -> None:
    for number in range(5):
        charge(app, f"expired-{number}")
        move_back(app, f"expired-{number}", expires_at=60)
    batches: list[int] = []

    with app.app_context():
        service = idempotency.service
        maintenance = KeyMaintenance(service.session, service.table, service.settings)
        deleted = maintenance.purge(2, progress=batches.append)

    assert deleted == 5
    assert batches == [2, 2, 1]


# show -------------------------------------------------------------------------------------


def test_show_describes_a_finished_key_without_its_body_or_params(app: Flask) -> None:
    response = charge(app, "order-7", user="alice", amount=987654321, note="Ada Lovelace")

    result = cli(app, "show", "order-7")

    assert result.exit_code == 0, result.output
    assert shown(result.output) == {
        "key": '"order-7"',
        "scope": '"basic:alice"',
        "state": "finished",
        "recovery point": "finished",
        "completed stages": "none",
        "lock age": f"not locked (lock timeout {LOCK_TIMEOUT} s)",
        "created": shown(result.output)["created"],
        "expires": shown(result.output)["expires"],
        "response": f"201, {len(response.data)} bytes",
        "request": "POST /charges",
    }
    assert "987654321" not in result.output
    assert "Ada Lovelace" not in result.output


def test_show_json_gives_the_same_and_times_from_the_database(app: Flask) -> None:
    response = charge(app, "order-7", amount=987654321, note="Ada Lovelace")
    key = stored(app, "order-7")
    assert key is not None

    result = cli(app, "show", "order-7", "--json")

    assert result.exit_code == 0, result.output
    assert "987654321" not in result.output
    assert "Ada Lovelace" not in result.output
    shown_key = json.loads(result.output)
    assert shown_key == {
        "idempotency_key": "order-7",
        "scope": ANONYMOUS,
        "state": "finished",
        "recovery_point": "finished",
        "completed_stages": [],
        "lock_age_seconds": None,
        "created_at": f"{key.created_at.isoformat()}+00:00",
        "expires_at": f"{key.expires_at.isoformat()}+00:00",
        "response_code": 201,
        "response_size": len(response.data),
        "response_kept": True,
        "request_method": "POST",
        "request_path": "/charges",
    }


def test_show_tells_in_flight_resumable_and_expired_keys_apart(app: Flask) -> None:
    hold(app, "in-flight")
    order_left_at_reserved(app, "resumable")
    charge(app, "expired")
    move_back(app, "expired", expires_at=1)

    in_flight = shown(cli(app, "show", "in-flight").output)
    resumable = shown(cli(app, "show", "resumable").output)
    expired = shown(cli(app, "show", "expired").output)

    assert in_flight["state"] == "in flight"
    assert in_flight["recovery point"] == "started"
    lock_age = float(in_flight["lock age"].split(" s ", 1)[0])
    assert 0 <= lock_age < LOCK_TIMEOUT
    assert in_flight["response"] == "none yet"
    assert resumable["state"] == "resumable"
    assert resumable["recovery point"] == "reserved"
    assert resumable["completed stages"] == "reserved"
    assert resumable["lock age"].startswith("not locked")
    assert resumable["request"] == "POST /orders/resumable"
    assert expired["state"] == "expired"


def test_a_lock_older_than_the_timeout_shows_as_resumable(app: Flask) -> None:
    hold(app, "abandoned")
    move_back(app, "abandoned", locked_at=LOCK_TIMEOUT + 30)

    result = shown(cli(app, "show", "abandoned").output)

    assert result["state"] == "resumable"
    assert float(result["lock age"].split(" s ", 1)[0]) >= LOCK_TIMEOUT + 30


def test_show_asks_for_a_scope_when_the_key_is_in_several(app: Flask) -> None:
    charge(app, "shared", user="alice")
    charge(app, "shared", user="bob", amount=2)

    ambiguous = cli(app, "show", "shared")
    bobs = cli(app, "show", "shared", "--scope", "basic:bob")

    assert ambiguous.exit_code == 2
    assert (
        'Idempotency key "shared" exists in several scopes: "basic:alice", "basic:bob". '
        "Name one with --scope."
    ) in ambiguous.output
    assert bobs.exit_code == 0, bobs.output
    assert shown(bobs.output)["scope"] == '"basic:bob"'


def test_show_of_an_unknown_key_fails(app: Flask) -> None:
    charge(app, "shared", user="alice")

    unknown = cli(app, "show", "nope")
    other_scope = cli(app, "show", "shared", "--scope", "basic:carol")

    assert unknown.exit_code == 1
    assert unknown.output == 'Error: No idempotency key "nope".\n'
    assert other_scope.exit_code == 1
    assert other_scope.output == 'Error: No idempotency key "shared" in scope "basic:carol".\n'


def test_the_global_scope_is_named_by_an_empty_string(make_app: Any) -> None:
    app = make_app(IDEMPOTENCY_SCOPE="global")
    charge(app, "k")

    result = cli(app, "show", "k", "--scope", "")

    assert result.exit_code == 0, result.output
    assert shown(result.output)["scope"] == '""'


# list -------------------------------------------------------------------------------------


def test_list_shows_keys_newest_first_and_filters_them(app: Flask) -> None:
    charge(app, "first")
    move_back(app, "first", expires_at=1)
    order_left_at_reserved(app, "second")
    hold(app, "third")

    every = cli(app, "list")
    header = every.output.splitlines()[0].split()

    assert every.exit_code == 0, every.output
    assert header[:3] == ["CREATED", "(UTC)", "STATE"]
    assert listed_keys(every.output) == ['"third"', '"second"', '"first"']
    assert listed_keys(cli(app, "list", "--locked").output) == ['"third"']
    assert listed_keys(cli(app, "list", "--expired").output) == ['"first"']
    assert listed_keys(cli(app, "list", "--recovery-point", "reserved").output) == ['"second"']
    assert listed_keys(cli(app, "list", "--limit", "2").output) == ['"third"', '"second"']
    states = [key["state"] for key in json.loads(cli(app, "list", "--json").output)]
    assert states == ["in flight", "resumable", "expired"]


def test_list_json_and_an_empty_list(app: Flask) -> None:
    charge(app, "k", user="alice")

    as_json = cli(app, "list", "--json")
    nothing = cli(app, "list", "--recovery-point", "shipped")

    assert as_json.exit_code == 0, as_json.output
    [key] = json.loads(as_json.output)
    assert (key["idempotency_key"], key["scope"], key["state"]) == ("k", "basic:alice", "finished")
    assert nothing.exit_code == 0
    assert nothing.output == "No idempotency keys match.\n"


# unlock -----------------------------------------------------------------------------------


def test_unlock_refuses_a_young_lock_and_with_force_lets_a_retry_resume(app: Flask) -> None:
    order_left_at_reserved(app, "o1")
    with app.app_context():
        service = idempotency.service
        # A worker takes the key again and is stuck, or dead, inside its next stage.
        service.lock(service.retrieve({"scope": ANONYMOUS, "idempotency_key": "o1"}))
    assert app.test_client().post("/orders/o1", headers=headers("o1")).status_code == 409

    refused = cli(app, "unlock", "o1")
    still_held = stored(app, "o1")
    forced = cli(app, "unlock", "o1", "--force")
    unlocked = stored(app, "o1")
    retry = app.test_client().post("/orders/o1", headers=headers("o1"))

    assert refused.exit_code == 1
    assert 'Error: Idempotency key "o1" in scope "anonymous" was locked ' in refused.output
    assert (
        f"s ago, less than the lock timeout (IDEMPOTENCY_LOCK_TIMEOUT = {LOCK_TIMEOUT} s)"
        in refused.output
    )
    assert "--force" in refused.output
    assert still_held is not None and still_held.lock_token is not None
    assert forced.exit_code == 0, forced.output
    assert forced.output.startswith('Unlocked idempotency key "o1" in scope "anonymous"')
    assert "resumes it from its recovery point, reserved." in forced.output
    assert unlocked is not None
    assert (unlocked.locked_at, unlocked.lock_token) == (None, None)
    assert unlocked.recovery_point == "reserved"
    assert retry.status_code == 200
    assert effects(app, "o1") == {"reserved": 1, "charged": 1, "shipped": 1}


def test_unlock_clears_a_lock_older_than_the_timeout_without_force(app: Flask) -> None:
    hold(app, "abandoned")
    move_back(app, "abandoned", locked_at=LOCK_TIMEOUT + 1)

    result = cli(app, "unlock", "abandoned")

    assert result.exit_code == 0, result.output
    assert result.output.startswith('Unlocked idempotency key "abandoned"')
    key = stored(app, "abandoned")
    assert key is not None and key.lock_token is None


def test_unlocking_a_key_that_is_not_locked_changes_nothing(app: Flask) -> None:
    charge(app, "done")

    result = cli(app, "unlock", "done")

    assert result.exit_code == 0
    assert (
        result.output
        == 'Idempotency key "done" in scope "anonymous" is not locked; nothing to do.\n'
    )


@pytest.mark.parametrize(
    ("force", "new_token"),
    [
        pytest.param(True, "a-retry-took-over", id="a retry takes the key over"),
        pytest.param(False, None, id="its holder renews the lock"),
    ],
)
def test_unlock_changes_nothing_when_the_lock_changes_after_it_was_read(
    app: Flask, force: bool, new_token: str | None
) -> None:
    hold(app, "contested")
    move_back(app, "contested", locked_at=LOCK_TIMEOUT + 1)
    before = stored(app, "contested")
    assert before is not None
    with app.app_context():
        engine = db.engine
        table = idempotency.service.table
        clock = idempotency.service.clock
    changed: list[str] = []

    def change_the_lock_first(
        connection: Any, cursor: Any, statement: str, *arguments: Any
    ) -> None:
        # Just before unlock's UPDATE reaches the database, another connection commits a
        # claim (a new token) or a stage's renewal (the same token, a new time).
        if changed or not statement.lstrip().upper().startswith("UPDATE"):
            return
        changed.append(statement)
        with engine.begin() as other:
            other.execute(
                update(table)
                .where(table.c.id == before.id)
                .values(lock_token=new_token or before.lock_token, locked_at=clock.now())
            )

    event.listen(engine, "before_cursor_execute", change_the_lock_first)
    try:
        result = cli(app, "unlock", "contested", *(["--force"] if force else []))
    finally:
        event.remove(engine, "before_cursor_execute", change_the_lock_first)

    assert changed
    assert result.exit_code == 1
    assert "changed while unlocking it" in result.output
    assert "nothing was changed" in result.output
    after = stored(app, "contested")
    assert after is not None
    assert after.lock_token == (new_token or before.lock_token)
    assert after.locked_at is not None


# stats ------------------------------------------------------------------------------------


def test_stats_counts_keys_by_state_and_recovery_point(app: Flask) -> None:
    charge(app, "done")
    charge(app, "done-and-expired")
    move_back(app, "done-and-expired", expires_at=1)
    order_left_at_reserved(app, "resumable")
    hold(app, "in-flight")
    hold(app, "abandoned")
    move_back(app, "abandoned", locked_at=LOCK_TIMEOUT + 1)

    as_json = cli(app, "stats", "--json")
    as_text = cli(app, "stats")

    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == {
        "total": 5,
        "expired": 1,
        "purgeable": 1,
        "locked": 2,
        "locks_past_timeout": 1,
        "by_recovery_point": {"finished": 2, "started": 2, "reserved": 1},
    }
    assert as_text.exit_code == 0, as_text.output
    assert [" ".join(line.split()) for line in as_text.output.splitlines()] == [
        "keys: 5",
        "expired: 1 (1 purgeable now)",
        "locked: 2 (1 past the lock timeout)",
        "by recovery point:",
        "finished 2",
        "started 2",
        "reserved 1",
    ]


def test_a_database_error_is_a_message_not_a_traceback(app: Flask) -> None:
    with app.app_context():
        idempotency.model.__table__.drop(db.engine)  # type: ignore[attr-defined]

    result = cli(app, "stats")

    assert result.exit_code == 1
    assert result.output.startswith("Error: The database failed: ")
    assert "Traceback" not in result.output


# The flask command ------------------------------------------------------------------------


def test_the_commands_reach_any_app_through_the_flask_entry_point(tmp_path: Path) -> None:
    (tmp_path / "plain_app.py").write_text(
        textwrap.dedent(
            """
            from flask import Flask

            app = Flask(__name__)
            """
        )
    )
    (tmp_path / "keyed_app.py").write_text(
        textwrap.dedent(
            """
            from flask import Flask
            from flask_sqlalchemy import SQLAlchemy

            from flask_idempotency import Idempotency

            app = Flask(__name__)
            app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///keys.sqlite"
            db = SQLAlchemy(app)
            Idempotency(app, db, scope="global")
            with app.app_context():
                db.create_all()
            """
        )
    )

    def flask(app_module: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", app_module, "idempotency", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    # The plain app never registers the commands: only the flask.commands entry point does.
    help_text = flask("plain_app", "--help")
    not_initialised = flask("plain_app", "stats")
    stats = flask("keyed_app", "stats")

    assert help_text.returncode == 0, help_text.stderr
    for command in ("purge", "show", "list", "unlock", "stats"):
        assert f"  {command} " in help_text.stdout
    assert not_initialised.returncode == 1
    assert "flask-idempotency is not initialised on this app" in not_initialised.stderr
    assert "Traceback" not in not_initialised.stderr
    assert stats.returncode == 0, stats.stderr
    assert stats.stdout.splitlines()[0] == "keys:     0"
