"""Finding what a request names, or answering 404 as Medusa does; and refusing to change a
cart that is no longer open."""

from __future__ import annotations

from typing import TypeVar

from flask import abort
from sqlalchemy import select

from ..cart_changes import lock
from ..extensions import db
from ..models import (
    Cart,
    LineItem,
    Order,
    Product,
    ProductVariant,
    Region,
    ShippingOption,
    is_identifier,
)
from ..problems import CART_INCOMPATIBLE_STATE, NOT_ALLOWED, problem

Row = TypeVar("Row")


def found(model: type[Row], identifier: object, what: str) -> Row:
    row = db.session.get(model, identifier) if is_identifier(identifier) else None
    if row is None:
        abort(problem(404, f"{what} with {identifier} was not found"))
    return row


def cart_or_404(cart_id: str) -> Cart:
    return found(Cart, cart_id, "Cart")


def region_or_404(region_id: str) -> Region:
    return found(Region, region_id, "Region")


def product_or_404(product_id: str) -> Product:
    return found(Product, product_id, "Product")


def variant_or_404(variant_id: str) -> ProductVariant:
    return found(ProductVariant, variant_id, "Variant")


def shipping_option_or_404(option_id: str) -> ShippingOption:
    return found(ShippingOption, option_id, "Shipping option")


def order_or_404(order_id: str) -> Order:
    return found(Order, order_id, "Order")


def order_of_cart_or_404(cart_id: str) -> Order:
    order: Order | None = (
        db.session.scalar(select(Order).where(Order.cart_id == cart_id))
        if is_identifier(cart_id)
        else None
    )
    if order is None:
        abort(problem(404, f"Order with cart id {cart_id} was not found"))
    return order


def line_item_of(cart: Cart, line_id: str) -> LineItem | None:
    if not is_identifier(line_id):
        return None
    return db.session.scalar(
        select(LineItem).where(LineItem.id == line_id, LineItem.cart_id == cart.id)
    )


def default_region() -> Region | None:
    """The first region listed, as Medusa takes ``regions[0]`` for a cart given none."""
    return db.session.scalar(select(Region).order_by(Region.name, Region.id).limit(1))


def refuse_unless_open(cart: Cart) -> None:
    if cart.completed_at is not None:
        abort(
            problem(
                400,
                f"Cart {cart.id} is completed and takes no more changes.",
                medusa_type=NOT_ALLOWED,
                code=CART_INCOMPATIBLE_STATE,
            )
        )
    if cart.completion_started_at is not None:
        # Not stored under the key (IDEMPOTENCY_UNSTORED_STATUSES): the client's retry with
        # the same key runs again, and once the completion is done learns that it is.
        abort(
            problem(
                409,
                f"Cart {cart.id} is being completed and takes no changes until that finishes. "
                "You may retry the request with the same Idempotency-Key.",
                retry_after=1,
            )
        )


def open_for_change(cart: Cart) -> Cart:
    """The cart, locked for a change; refused unless it is open. Looked at before taking the
    lock too, so that a change refused anyway does not wait for a completion's stage."""
    refuse_unless_open(cart)
    lock(cart)
    refuse_unless_open(cart)
    return cart
