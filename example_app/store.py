"""The store API (paths follow Medusa's): products, carts, line items, cart completion."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, request
from sqlalchemy import select

from flask_idempotency import idempotent

from . import completion
from .extensions import db
from .models import Cart, LineItem, Product, is_identifier
from .problems import problem

store = Blueprint("store", __name__, url_prefix="/store")

# The most of one product a cart holds. Quantities and amounts (in cents) are 32-bit integer
# columns: without a bound, a huge quantity, or one product added again and again, would
# overflow them and the database would refuse the write, a 500.
MAX_QUANTITY = 10_000


def cart_or_404(cart_id: str) -> Cart:
    cart = db.session.get(Cart, cart_id) if is_identifier(cart_id) else None
    if cart is None:
        abort(problem(404, f"No cart {cart_id!r}."))
    return cart


@store.get("/products")
def list_products() -> dict[str, Any]:
    products = db.session.scalars(select(Product).order_by(Product.title))
    return {"products": [product.to_dict() for product in products]}


@store.post("/carts")
@idempotent
def create_cart() -> Any:
    cart = Cart()
    db.session.add(cart)
    db.session.flush()
    return {"cart": cart.to_dict()}


@store.get("/carts/<cart_id>")
def get_cart(cart_id: str) -> Any:
    return {"cart": cart_or_404(cart_id).to_dict()}


@store.post("/carts/<cart_id>/line-items")
@idempotent
def add_line_item(cart_id: str) -> Any:
    cart = cart_or_404(cart_id)
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return problem(400, 'Send a JSON object: {"product_id": ..., "quantity": ...}.')
    quantity = payload.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        return problem(400, "quantity must be a positive integer.")
    product_id = payload.get("product_id")
    product = db.session.get(Product, product_id) if is_identifier(product_id) else None
    if product is None:
        return problem(404, f"No product {product_id!r}.")
    if cart.completed_at is not None:
        return problem(409, "This cart is completed; start a new cart.")
    item = next((item for item in cart.items if item.product_id == product.id), None)
    if quantity + (0 if item is None else item.quantity) > MAX_QUANTITY:
        return problem(400, f"A cart holds at most {MAX_QUANTITY} of each product.")
    if item is None:
        cart.items.append(
            LineItem(
                product_id=product.id,
                title=product.title,
                unit_price=product.price,
                quantity=quantity,
            )
        )
    else:
        item.quantity += quantity
    db.session.flush()
    return {"cart": cart.to_dict()}


@store.post("/carts/<cart_id>/complete")
@idempotent
def complete_cart(cart_id: str) -> Any:
    cart = cart_or_404(cart_id)
    # A cart completed before, under any key, answers with its order: never a second one.
    order = completion.existing_order(cart)
    if order is not None:
        return {"type": "order", "data": order.to_dict()}
    if not cart.items:
        return problem(400, "The cart is empty; add line items before completing it.")
    return completion.complete(cart)
