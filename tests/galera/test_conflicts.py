"""Where two nodes write the same rows at once, Galera lets both go on and certification fails
the later one at its COMMIT with error 1213. Duplicates of one key sent to different nodes at
the same moment execute once; a stage's or the finish's COMMIT that fails certification reruns
from the last committed stage (or answers 503 with the key released, once the retries are
spent); a holder whose key a retry on another node took over loses at certification with a
409, never a 500, and nothing happens twice."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select, update
from sqlalchemy.engine import Connection, ExceptionContext
from werkzeug.test import TestResponse

from flask_idempotency import idempotent, stage
from tests.galera.cluster import Cluster
from tests.galera.conftest import NodeApps, add_figures
from tests.galera.ledger_nodes import age_lock, charges_noted, is_problem, key_row, post
from tests.galera.simultaneous import at_once
from tests.helpers import effects
from tests.ledger_app import Charge, Effect, db

pytestmark = pytest.mark.galera

STAGES = ("reserved", "charged", "shipped")


def outcomes(replies: list[TestResponse]) -> Counter[str | int]:
    return Counter(
        "replayed" if reply.headers.get("Idempotent-Replayed") else reply.status_code
        for reply in replies
    )


def the_one_original(replies: list[TestResponse], status: int) -> TestResponse:
    """Of simultaneous duplicates, the one reply that ran the view; every other is a 409 in
    flight or a replay of its status and bytes."""
    ran = [
        reply
        for reply in replies
        if not reply.headers.get("Idempotent-Replayed") and reply.status_code != 409
    ]
    assert len(ran) == 1 and ran[0].status_code == status, outcomes(replies)
    [original] = ran
    for reply in replies:
        if reply.headers.get("Idempotent-Replayed"):
            assert (reply.status_code, reply.data) == (original.status_code, original.data)
        elif reply is not original:
            assert is_problem(reply, 409, "request-in-flight"), reply.data
    return original


def test_simultaneous_duplicates_on_three_nodes_execute_once(node_apps: NodeApps) -> None:
    # How many of these races the cluster settles by certification varies from run to run
    # (the run's figures count them); the tests below force the conflict instead.
    apps = node_apps()
    keys, copies = 30, 6
    # Two copies of each key per node, released together by a barrier.
    targets = [apps[copy % 3] for copy in range(copies)]
    duplicated = 0
    for number in range(keys):
        key = f"race-{number}"
        charge = number % 2 == 0
        path = "/charges" if charge else f"/orders/{key}"
        body = {"amount": 1 + number, "note": key} if charge else None

        replies = at_once([partial(post, app, path, key, json=body) for app in targets])
        assert not [reply for reply in replies if reply.status_code >= 500], outcomes(replies)
        original = the_one_original(replies, 201 if charge else 200)
        final = post(apps[number % 3], path, key, json=body)
        assert final.headers["Idempotent-Replayed"] == "true", final.data
        assert final.data == original.data

        done = {"charge": charges_noted(apps[1], key)} if charge else effects(apps[2], key)
        duplicated += sum(count - 1 for count in done.values())
        assert done == ({"charge": 1} if charge else dict.fromkeys(STAGES, 1))
    add_figures(requests=keys * (copies + 1), duplicated_effects=duplicated)


# Where a COMMIT is made to fail certification: a stage's, or the finish's with the response.
COMMITS = ("charged", "finish")


def committed_before(at: str) -> list[str]:
    return list(STAGES[: STAGES.index(at)]) if at in STAGES else list(STAGES)


class CommitConflict:
    """Once the view on this node reaches ``at``, just before the COMMIT that follows (the
    key's fenced update already sent), ``interfere`` runs: it writes, on another node, a row
    this transaction wrote. The other node's write is certified first, so this COMMIT fails
    certification with 1213."""

    def __init__(self, app: Flask, at: str, interfere: Callable[[], None]) -> None:
        self.at = at
        self.interfere = interfere
        self.armed = False
        self.fired = False
        self.error_codes: list[int] = []
        with app.app_context():
            event.listen(db.engine, "commit", self.on_commit)
            event.listen(db.engine, "handle_error", self.on_error)

    def reached(self, point: str) -> None:
        if point == self.at and not self.fired:
            self.armed = True

    def on_commit(self, connection: Connection) -> None:
        if self.armed:
            self.armed, self.fired = False, True
            self.interfere()

    def on_error(self, context: ExceptionContext) -> None:
        arguments = getattr(context.original_exception, "args", ())
        if arguments and isinstance(arguments[0], int):
            self.error_codes.append(arguments[0])


def register_contended_view(app: Flask, reached: Callable[[str], None]) -> None:
    """Three stages and a final write; each one adds to the order's counter row, the row a
    write on another node contends for."""

    @app.post("/contended/<ref>")
    @idempotent
    def contended(ref: str) -> dict[str, str]:
        def count_and_record(name: str) -> None:
            db.session.execute(
                update(Charge)
                .where(Charge.note == f"counter-{ref}")
                .values(amount=Charge.amount + 1)
            )
            db.session.add(Effect(order_ref=ref, stage=name))
            db.session.flush()
            reached(name)

        for name in STAGES:
            with stage(name) as step:
                if step.pending:
                    count_and_record(name)
        count_and_record("finish")
        return {"order": ref}


def contended_apps(node_apps: NodeApps, ref: str, **config: Any) -> list[Flask]:
    apps = node_apps(**config)
    with apps[0].app_context():
        db.session.add(Charge(amount=0, note=f"counter-{ref}"))
        db.session.commit()
        db.session.remove()
    return apps


def bystander_write(cluster: Cluster, database: str, ref: str, node: int = 2) -> Callable[[], None]:
    """Adds 1000 to the order's counter row on ``node``, committed at once."""

    def write() -> None:
        with cluster.connect(node, database) as connection, connection.cursor() as cursor:
            cursor.execute(
                "UPDATE charge SET amount = amount + 1000 WHERE note = %s", (f"counter-{ref}",)
            )

    return write


def counter(app: Flask, ref: str) -> int:
    with app.app_context():
        amount = db.session.scalar(select(Charge.amount).where(Charge.note == f"counter-{ref}"))
        db.session.remove()
    return int(amount or 0)


def all_effects_once() -> dict[str, int]:
    return dict.fromkeys((*STAGES, "finish"), 1)


@pytest.mark.parametrize("at", COMMITS)
def test_a_commit_that_fails_certification_reruns_from_the_last_committed_stage(
    node_apps: NodeApps, cluster: Cluster, ledger_database: str, at: str
) -> None:
    ref = f"certified-{at}"
    apps = contended_apps(node_apps, ref, IDEMPOTENCY_DATABASE_RETRIES=3)
    conflict = CommitConflict(apps[0], at, bystander_write(cluster, ledger_database, ref))
    register_contended_view(apps[0], conflict.reached)
    for app in apps[1:]:
        register_contended_view(app, lambda point: None)

    response = post(apps[0], f"/contended/{ref}", ref)

    assert conflict.fired and conflict.error_codes == [1213]
    assert response.status_code == 200, response.data
    assert effects(apps[1], ref) == all_effects_once()
    # Four increments, each committed once, and the bystander's.
    assert counter(apps[1], ref) == 4 + 1000
    key = key_row(apps[2], ref)
    assert (key.recovery_point, key.completed_stages) == ("finished", list(STAGES))
    assert key.locked_at is None
    replay = post(apps[2], f"/contended/{ref}", ref)
    assert (replay.headers["Idempotent-Replayed"], replay.data) == ("true", response.data)
    add_figures(requests=2)


@pytest.mark.parametrize("at", COMMITS)
def test_a_commit_that_fails_certification_without_retries_left_is_a_503_resumed_elsewhere(
    node_apps: NodeApps, cluster: Cluster, ledger_database: str, at: str
) -> None:
    ref = f"spent-{at}"
    apps = contended_apps(node_apps, ref, IDEMPOTENCY_DATABASE_RETRIES=0)
    conflict = CommitConflict(apps[0], at, bystander_write(cluster, ledger_database, ref))
    register_contended_view(apps[0], conflict.reached)
    for app in apps[1:]:
        register_contended_view(app, lambda point: None)

    failed = post(apps[0], f"/contended/{ref}", ref)

    assert conflict.fired and conflict.error_codes == [1213]
    assert is_problem(failed, 503, "database-unavailable"), failed.data
    committed = committed_before(at)
    assert effects(apps[2], ref) == dict.fromkeys(committed, 1)
    key = key_row(apps[2], ref)
    # Released where the database has it: the failed stage is not among the completed.
    assert (key.completed_stages, key.locked_at, key.response_code) == (committed, None, None)

    resumed = post(apps[1], f"/contended/{ref}", ref)
    assert resumed.status_code == 200, resumed.data
    assert effects(apps[2], ref) == all_effects_once()
    assert counter(apps[2], ref) == 4 + 1000
    add_figures(requests=2)


def test_a_holder_whose_key_another_node_took_over_loses_at_certification_with_a_409(
    node_apps: NodeApps, ledger_database: str
) -> None:
    ref = "taken-over"
    apps = contended_apps(node_apps, ref, IDEMPOTENCY_LOCK_TIMEOUT=30)
    retry: list[TestResponse] = []

    def take_over() -> None:
        # The holder's stage is written, its key's update sent, its COMMIT not yet: it has
        # stalled past the lock timeout (by the database's clock), and a retry on node 2 takes
        # the key over and finishes. In a thread of its own, as on another app server.
        def on_node_2() -> None:
            age_lock(apps[1], ref, seconds=60)
            retry.append(post(apps[1], f"/contended/{ref}", ref))

        retrying = threading.Thread(target=on_node_2)
        retrying.start()
        retrying.join(timeout=60)

    conflict = CommitConflict(apps[0], "charged", take_over)
    register_contended_view(apps[0], conflict.reached)
    for app in apps[1:]:
        register_contended_view(app, lambda point: None)

    holder = post(apps[0], f"/contended/{ref}", ref)

    assert conflict.fired and conflict.error_codes == [1213]
    [retried] = retry
    assert retried.status_code == 200, retried.data
    assert is_problem(holder, 409, "lock-lost"), holder.data
    assert effects(apps[2], ref) == all_effects_once()
    assert counter(apps[2], ref) == 4
    replay = post(apps[2], f"/contended/{ref}", ref)
    assert (replay.headers["Idempotent-Replayed"], replay.data) == ("true", retried.data)
    add_figures(requests=3)
