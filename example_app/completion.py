"""Completing a cart in stages, as Medusa does:
``started -> tax_lines_created -> payment_authorized -> finished``.

Each stage commits with its recovery point, so a retry resumes after the last completed stage.
Every stage first takes the cart's row lock (``cart_changes.lock``): completions of one cart
under *different* keys (a double click that made two keys) run one after the other, and every
stage then looks at what the cart already has, so none authorizes a second payment or creates a
second order. The first stage also marks the cart as being completed: from its commit on, the
store refuses to change the cart (409), so the order's totals are those of the tax lines and
the payment.

A cart completed without a shipping method or a selected payment session gets the region's
first shipping option and the manual provider, in the first stage.
"""

from __future__ import annotations

from typing import Any

from flask import abort
from sqlalchemy import delete, select

from flask_idempotency import stage

from .cart_changes import choose_shipping, default_shipping_option, lock, select_payment_session
from .extensions import db
from .faults import delay_if_asked, fail_if_asked
from .models import PAYMENT_PROVIDERS, Cart, Order, Payment, TaxLine, new_id, utcnow
from .money import tax_for
from .problems import problem
from .responses import order_json
from .totals import cart_totals

# Medusa's name for the region's own rate, which every line here is taxed at.
TAX_LINE_NAME = "default"


# Read after lock(), these see what a racing completion committed.
def existing_payment(cart: Cart) -> Payment | None:
    return db.session.scalar(select(Payment).where(Payment.cart_id == cart.id))


def existing_order(cart: Cart) -> Order | None:
    return db.session.scalar(select(Order).where(Order.cart_id == cart.id))


def empty_cart(cart: Cart) -> Any:
    return problem(400, f"Cart {cart.id} has no line items; add some before completing it.")


def choose_defaults(cart: Cart) -> None:
    """What a client that went straight from line items to completion did not choose."""
    if not cart.shipping_methods:
        option = default_shipping_option(cart)
        if option is not None:
            choose_shipping(cart, option)
    if cart.payment_session is None:
        select_payment_session(cart, PAYMENT_PROVIDERS[0])
    db.session.flush()
    db.session.expire_all()


def create_tax_lines(cart: Cart) -> None:
    # Once a payment is authorized the amounts are fixed: a racing completion must not replace
    # the tax lines it was computed from.
    if existing_payment(cart) is not None:
        return
    db.session.execute(delete(TaxLine).where(TaxLine.cart_id == cart.id))
    rate = cart.region.tax_rate_basis_points
    # Medusa's prefixes: litl_ for a line item's tax line, smtl_ for a shipping method's.
    taxed = [("litl", {"item_id": item.id}, item.subtotal) for item in cart.items] + [
        ("smtl", {"shipping_method_id": method.id}, method.price)
        for method in cart.shipping_methods
    ]
    for prefix, owner, base in taxed:
        db.session.add(
            TaxLine(
                id=new_id(prefix),
                cart_id=cart.id,
                name=TAX_LINE_NAME,
                rate_basis_points=rate,
                amount=tax_for(base, rate),
                **owner,
            )
        )
    db.session.flush()
    db.session.expire_all()


def authorize_payment(cart: Cart) -> None:
    if existing_payment(cart) is not None:
        return
    session = cart.payment_session
    assert session is not None, "the tax_lines_created stage selected one"
    db.session.add(
        Payment(
            cart_id=cart.id,
            provider_id=session.provider_id,
            currency_code=cart.region.currency_code,
            amount=cart_totals(cart).total,
        )
    )
    session.status = "authorized"
    cart.payment_authorized_at = utcnow()


def create_order(cart: Cart) -> Order:
    order = existing_order(cart)
    if order is None:
        payment = existing_payment(cart)
        assert payment is not None, "the payment_authorized stage has committed"
        totals = cart_totals(cart)
        order = Order(
            cart_id=cart.id,
            payment_id=payment.id,
            region_id=cart.region_id,
            email=cart.email,
            currency_code=cart.region.currency_code,
            tax_rate_basis_points=cart.region.tax_rate_basis_points,
            subtotal=totals.subtotal,
            shipping_total=totals.shipping_total,
            tax_total=totals.tax_total,
            total=payment.amount,
        )
        db.session.add(order)
        cart.completed_at = utcnow()
        db.session.flush()
    return order


def complete(cart: Cart) -> dict[str, Any]:
    with stage("tax_lines_created") as tax_lines:
        if tax_lines.pending:
            lock(cart)
            if not cart.items:
                # Emptied by a change that took the lock after this request looked.
                abort(empty_cart(cart))
            if existing_payment(cart) is None:
                choose_defaults(cart)
            create_tax_lines(cart)
            if cart.completion_started_at is None:
                cart.completion_started_at = utcnow()
            db.session.flush()
            fail_if_asked("tax_lines_created")

    with stage("payment_authorized") as payment:
        if payment.pending:
            lock(cart)
            authorize_payment(cart)
            db.session.flush()
            delay_if_asked()
            fail_if_asked("payment_authorized")

    # The last step commits with the stored response: reaching it is "finished".
    lock(cart)
    order = create_order(cart)
    fail_if_asked("finished")
    return {"type": "order", "data": order_json(order)}
