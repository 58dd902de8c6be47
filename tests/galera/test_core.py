"""What a client relies on, with each request of a key sent to another node: a claim on one
node is seen by the others, a retry anywhere replays, a duplicate in flight is a 409 and a
reused key a 422 on any node, stages resume on another node, and a holder taken over on another
node is fenced."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.galera.conftest import NodeApps, add_figures
from tests.galera.ledger_nodes import (
    age_lock,
    charges_noted,
    hold,
    is_problem,
    key_row,
    post,
)
from tests.helpers import effects

pytestmark = pytest.mark.galera

STAGES = ("reserved", "charged", "shipped")


def test_a_request_finished_on_one_node_replays_on_the_others(node_apps: NodeApps) -> None:
    apps = node_apps()
    sent = 0
    for number in range(9):
        origin = number % 3
        key, note = f"replay-{number}", f"replay-{number}"
        body = {"amount": 100 + number, "note": note}

        first = post(apps[origin], "/charges", key, json=body)
        assert first.status_code == 201, first.data
        # At once, on each other node in turn: it sees the finished key (causal reads).
        for other in (origin + 1, origin + 2, origin + 3):
            replay = post(apps[other % 3], "/charges", key, json=body)
            assert replay.headers["Idempotent-Replayed"] == "true", replay.data
            assert (replay.status_code, replay.data) == (201, first.data)
            assert replay.headers["Location"] == first.headers["Location"]
        sent += 4
        assert charges_noted(apps[(origin + 1) % 3], note) == 1
    add_figures(requests=sent)


def test_a_duplicate_on_another_node_while_the_first_is_in_flight_is_a_409(
    node_apps: NodeApps,
) -> None:
    apps = node_apps()
    body = {"amount": 10, "note": "in-flight"}
    gate = hold(apps[0], "charge")
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, apps[0], "/charges", "in-flight", json=body)
        assert gate.entered.wait(30)

        for app in apps[1:]:
            duplicate = post(app, "/charges", "in-flight", json=body)
            assert is_problem(duplicate, 409, "request-in-flight"), duplicate.data
            assert int(duplicate.headers["Retry-After"]) >= 1

        gate.release.set()
        assert first.result().status_code == 201

    replay = post(apps[2], "/charges", "in-flight", json=body)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert charges_noted(apps[1], "in-flight") == 1
    add_figures(requests=4)


def test_a_key_reused_for_another_request_is_a_422_on_every_node(node_apps: NodeApps) -> None:
    apps = node_apps()
    first = post(apps[0], "/charges", "reused", json={"amount": 5, "note": "reused"})
    assert first.status_code == 201

    for app in apps:
        refused = post(app, "/charges", "reused", json={"amount": 6, "note": "reused"})
        assert is_problem(refused, 422, "idempotency-key-reused"), refused.data
    assert charges_noted(apps[2], "reused") == 1
    add_figures(requests=4)


def test_stages_failed_on_one_node_resume_on_the_next_and_none_runs_twice(
    node_apps: NodeApps,
) -> None:
    apps = node_apps()

    failed = post(apps[0], "/orders/staged", "staged", headers={"X-Fail-At": "charged"})
    assert failed.status_code == 500
    assert key_row(apps[1], "staged").completed_stages == ["reserved"]

    failed_again = post(apps[1], "/orders/staged", "staged", headers={"X-Fail-At": "shipped"})
    assert failed_again.status_code == 500
    assert key_row(apps[2], "staged").completed_stages == ["reserved", "charged"]

    finished = post(apps[2], "/orders/staged", "staged")
    assert finished.status_code == 200, finished.data
    assert effects(apps[0], "staged") == dict.fromkeys(STAGES, 1)

    replay = post(apps[0], "/orders/staged", "staged")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.data == finished.data
    add_figures(requests=4)


def test_a_holder_taken_over_on_another_node_is_fenced_and_its_stage_rolled_back(
    node_apps: NodeApps,
) -> None:
    apps = node_apps(IDEMPOTENCY_LOCK_TIMEOUT=30)
    gate = hold(apps[0], "charged")
    with ThreadPoolExecutor(1) as pool:
        holder = pool.submit(post, apps[0], "/orders/fenced", "fenced")
        assert gate.entered.wait(30)
        # The holder stalls inside its second stage past the lock timeout, by the database's
        # clock; a retry on node 2 takes the key over and resumes after the first stage.
        age_lock(apps[2], "fenced", seconds=60)
        retry = post(apps[1], "/orders/fenced", "fenced")
        assert retry.status_code == 200, retry.data

        gate.release.set()
        fenced = holder.result()

    assert is_problem(fenced, 409, "lock-lost"), fenced.data
    assert effects(apps[2], "fenced") == dict.fromkeys(STAGES, 1)
    replay = post(apps[2], "/orders/fenced", "fenced")
    assert (replay.headers["Idempotent-Replayed"], replay.data) == ("true", retry.data)
    add_figures(requests=3)
