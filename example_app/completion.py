"""Completing a cart in stages, as Medusa does:
``started -> tax_lines_created -> payment_authorized -> finished``.

Each stage commits with its recovery point, so a retry resumes after the last completed stage.
Completions of one cart under *different* keys (a double click that made two keys) are
serialised by bumping the cart's version at the start of every stage, which takes the cart's
row lock (PostgreSQL, MariaDB) or the database's write lock (SQLite); every stage then looks at
what the cart already has, so none authorizes a second payment or creates a second order.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from flask_idempotency import stage

from .extensions import db
from .faults import delay_if_asked, fail_if_asked
from .models import Cart, Order, PaymentAuthorization, TaxLine, tax_for, utcnow


def guard(cart: Cart) -> None:
    """Hold the cart until this stage commits; the reads after it see what others committed
    before us."""
    db.session.execute(update(Cart).where(Cart.id == cart.id).values(version=Cart.version + 1))


# Read after guard(), these see what a racing completion committed: each statement reads the
# latest committed rows at READ COMMITTED (create_app sets it for MariaDB).
def existing_authorization(cart: Cart) -> PaymentAuthorization | None:
    return db.session.scalar(
        select(PaymentAuthorization).where(PaymentAuthorization.cart_id == cart.id)
    )


def existing_order(cart: Cart) -> Order | None:
    return db.session.scalar(select(Order).where(Order.cart_id == cart.id))


def create_tax_lines(cart: Cart) -> None:
    # Once a payment is authorized the amounts are fixed: a racing completion must not
    # replace the tax lines it was computed from.
    if existing_authorization(cart) is not None:
        return
    db.session.execute(delete(TaxLine).where(TaxLine.cart_id == cart.id))
    for item in cart.items:
        db.session.add(
            TaxLine(
                cart_id=cart.id,
                line_item_id=item.id,
                rate_basis_points=1000,
                amount=tax_for(item.subtotal),
            )
        )


def authorize_payment(cart: Cart) -> None:
    if existing_authorization(cart) is None:
        db.session.add(PaymentAuthorization(cart_id=cart.id, amount=cart.total))


def create_order(cart: Cart) -> Order:
    order = existing_order(cart)
    if order is None:
        authorization = existing_authorization(cart)
        assert authorization is not None, "the payment_authorized stage has committed"
        order = Order(
            cart_id=cart.id,
            payment_authorization_id=authorization.id,
            subtotal=cart.subtotal,
            tax_total=cart.tax_total,
            total=authorization.amount,
        )
        db.session.add(order)
        cart.completed_at = utcnow()
        db.session.flush()
    return order


def complete(cart: Cart) -> dict[str, Any]:
    with stage("tax_lines_created") as tax_lines:
        if tax_lines.pending:
            guard(cart)
            create_tax_lines(cart)
            db.session.flush()
            fail_if_asked("tax_lines_created")

    with stage("payment_authorized") as payment:
        if payment.pending:
            guard(cart)
            authorize_payment(cart)
            db.session.flush()
            delay_if_asked()
            fail_if_asked("payment_authorized")

    # The last step commits with the stored response: reaching it is "finished".
    guard(cart)
    order = create_order(cart)
    fail_if_asked("finished")
    return {"type": "order", "data": order.to_dict()}
