"""A bounded mixed load: new, replayed, conflicting, duplicated and faulty completions from
eight clients against four gunicorn workers, for a few seconds (RELIABILITY_LONG=1: a minute).
Afterwards every completed key must replay its bytes, no effect may exist twice, and no lock
may be left held."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from flask import Flask

from tests.reliability.conftest import Figures, ServeStorefront, add_figures, scaled
from tests.reliability.shop_client import Shop, duplicated_effects, locks_left
from tests.served import Reply
from tests.storefront.conftest import HOODIE_L, MUG, TSHIRT_M

STAGES = ("tax_lines_created", "payment_authorized", "finished")
VARIANTS = (TSHIRT_M, HOODIE_L, MUG)
# Orders the load must have completed for its verdict to mean something. A loaded machine gets
# through fewer in the time given, so the load goes on past its time until it has them...
MINIMUM_ORDERS = 11
# ...for at most this much longer, which only a failing run needs.
PATIENCE = 60


@dataclass
class Load:
    shop: Shop
    deadline: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    carts: list[str] = field(default_factory=list)
    # Each key that completed, with its cart and the bytes of its first answer.
    completed: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    requests: int = 0
    unexpected: Counter[str] = field(default_factory=Counter)

    def done(self) -> bool:
        now = time.monotonic()
        with self.lock:
            enough = len(self.completed) >= MINIMUM_ORDERS
        return now >= self.deadline + (0 if enough else PATIENCE)

    def send(self, reply: Reply) -> Reply:
        with self.lock:
            self.requests += 1
        return reply

    def note(self, what: str) -> None:
        with self.lock:
            self.unexpected[what] += 1

    def new_cart(self, rng: random.Random) -> str:
        items = [
            (variant, rng.randint(1, 3)) for variant in rng.sample(VARIANTS, rng.randint(1, 2))
        ]
        cart_id = self.shop.new_cart(*items)
        with self.lock:
            self.carts.append(cart_id)
            self.requests += 1 + len(items)
        return cart_id

    def record(self, key: str, cart_id: str, reply: Reply) -> None:
        if reply.status != 200:
            self.note(f"completion answered {reply.status}")
            return
        with self.lock:
            self.completed.setdefault(key, (cart_id, reply.body))

    def complete(self, cart_id: str, key: str, **headers: str) -> Reply:
        return self.send(self.shop.complete(cart_id, key, **headers))


def new_completion(load: Load, rng: random.Random, key: str) -> None:
    cart_id = load.new_cart(rng)
    load.record(key, cart_id, load.complete(cart_id, key))


def replay(load: Load, rng: random.Random, key: str) -> None:
    with load.lock:
        if not load.completed:
            return
        old_key, (cart_id, body) = rng.choice(list(load.completed.items()))
    reply = load.complete(cart_id, old_key)
    if not (reply.replayed and reply.body == body):
        load.note("replay differed")


def conflict(load: Load, rng: random.Random, key: str) -> None:
    with load.lock:
        if len(load.carts) < 2 or not load.completed:
            return
        old_key, (cart_id, _) = rng.choice(list(load.completed.items()))
        other_cart = rng.choice([cart for cart in load.carts if cart != cart_id])
    if load.complete(other_cart, old_key).status != 422:
        load.note("reused key not refused with 422")


def faulty(load: Load, rng: random.Random, key: str) -> None:
    cart_id = load.new_cart(rng)
    failed = load.complete(cart_id, key, **{"X-Storefront-Fault": rng.choice(STAGES)})
    if failed.status != 500:
        load.note(f"injected fault answered {failed.status}")
    load.record(key, cart_id, load.complete(cart_id, key))


def duplicated(load: Load, rng: random.Random, key: str) -> None:
    cart_id = load.new_cart(rng)
    with ThreadPoolExecutor(2) as pool:
        replies = list(
            pool.map(
                lambda _: load.complete(cart_id, key, **{"X-Storefront-Delay": "0.2"}), range(2)
            )
        )
    fresh = [reply for reply in replies if reply.status == 200 and not reply.replayed]
    if len(fresh) != 1 or any(reply.status not in (200, 409) for reply in replies):
        load.note("duplicate pair not answered once")
    load.record(key, cart_id, fresh[0] if fresh else load.complete(cart_id, key))


ACTIONS = (new_completion, replay, conflict, faulty, duplicated)
WEIGHTS = (4, 4, 1, 2, 1)


def test_mixed_load_leaves_no_duplicate_no_lost_key_and_no_lock(
    storefront: Flask, serve_storefront: ServeStorefront, figures: Figures
) -> None:
    seconds = scaled(8, 60)
    with serve_storefront(IDEMPOTENCY_LOCK_TIMEOUT=10) as server:
        started = time.monotonic()
        load = Load(Shop(server.port), started + seconds)

        def client(number: int) -> None:
            rng = random.Random(number)
            sequence = 0
            while not load.done():
                sequence += 1
                action = rng.choices(ACTIONS, WEIGHTS)[0]
                action(load, rng, f"soak-{number}-{sequence}")

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(client, range(8)))
        elapsed = time.monotonic() - started

        # Every key that completed still replays exactly what it first answered.
        lost = 0
        for key, (cart_id, body) in load.completed.items():
            reply = load.complete(cart_id, key)
            lost += not (reply.replayed and reply.body == body)

    effects = duplicated_effects(storefront, load.carts)
    locks = locks_left(storefront)
    print(f"\nsoak: {load.requests} requests in {elapsed:.0f} s, {len(load.completed)} orders")
    add_figures(
        figures,
        requests=load.requests,
        duplicated_effects=effects,
        lost_keys=lost,
        locks_left=locks,
    )
    assert load.unexpected == Counter()
    assert (effects, lost, locks) == (0, 0, 0)
    assert len(load.completed) >= MINIMUM_ORDERS
