"""Changing a cart, for the store's views and for the completion alike.

Everything that changes a cart first takes the cart's row lock with ``lock()``, then reads what
it is about to change: two adds of one variant under different keys (two taps, two tabs) then
run one after the other and add up, and nothing changes a cart between the completion's stages.
On SQLite the same statement takes the database's write lock, which serialises them as well.
"""

from __future__ import annotations

from flask import abort
from sqlalchemy import delete, select, update

from .extensions import db
from .models import (
    PAYMENT_PROVIDERS,
    Cart,
    LineItem,
    PaymentSession,
    ProductVariant,
    Region,
    ShippingMethod,
    ShippingOption,
    utcnow,
)
from .problems import problem

# The most of one variant a cart holds. Quantities and amounts (in cents) are 32-bit integer
# columns: without a bound, a huge quantity, or one variant added again and again, would
# overflow them and the database would refuse the write, a 500.
MAX_QUANTITY = 10_000


def lock(cart: Cart) -> None:
    """Hold the cart's row lock until the transaction commits. Everything loaded before is
    read again when next used, so that it shows what others committed before we got the lock
    (each statement reads the latest committed rows at READ COMMITTED, which create_app sets
    for MariaDB and PostgreSQL has by default)."""
    db.session.execute(
        update(Cart)
        .where(Cart.id == cart.id)
        .values(version=Cart.version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()


def changed(cart: Cart) -> Cart:
    """The cart as this transaction now has it, once the changes are sent."""
    db.session.flush()
    db.session.expire_all()
    return cart


def price_of(variant: ProductVariant, region: Region) -> int:
    price = variant.price_in(region.currency_code)
    if price is None:
        abort(
            problem(
                400,
                f"Variant {variant.id} has no price in {region.currency_code.upper()}, "
                f"the currency of region {region.id}.",
            )
        )
    return price


def add_variant(cart: Cart, variant: ProductVariant, quantity: int) -> None:
    """Add ``quantity`` of ``variant``: a new line, or more of the line it has. Call with the
    cart's lock held."""
    price = price_of(variant, cart.region)
    item = db.session.scalar(
        select(LineItem).where(LineItem.cart_id == cart.id, LineItem.variant_id == variant.id)
    )
    in_cart = 0 if item is None else item.quantity
    if in_cart + quantity > MAX_QUANTITY:
        abort(problem(400, f"A cart holds at most {MAX_QUANTITY} of each variant."))
    if item is None:
        db.session.add(
            LineItem(
                cart_id=cart.id,
                variant_id=variant.id,
                title=variant.product.title,
                description=variant.title,
                unit_price=price,
                quantity=quantity,
            )
        )
    else:
        item.quantity = in_cart + quantity
        item.unit_price = price


def set_quantity(item: LineItem, quantity: int) -> None:
    """A line's new quantity; 0 removes it. Call with the cart's lock held."""
    if quantity == 0:
        db.session.delete(item)
    else:
        item.quantity = quantity


def change_region(cart: Cart, region: Region) -> None:
    """Move the cart to another region: its lines are priced in the region's currency, and the
    shipping method and payment sessions, which belonged to the old region, go. Call with the
    cart's lock held."""
    for item in cart.items:
        item.unit_price = price_of(item.variant, region)
    db.session.execute(delete(ShippingMethod).where(ShippingMethod.cart_id == cart.id))
    db.session.execute(delete(PaymentSession).where(PaymentSession.cart_id == cart.id))
    cart.region_id = region.id


def choose_shipping(cart: Cart, option: ShippingOption) -> None:
    """Ship the cart with ``option``, at its price now, instead of any earlier choice."""
    current = db.session.scalar(select(ShippingMethod).where(ShippingMethod.cart_id == cart.id))
    if current is not None:
        if current.shipping_option_id == option.id:
            return
        db.session.delete(current)
        db.session.flush()
    db.session.add(
        ShippingMethod(cart_id=cart.id, shipping_option_id=option.id, price=option.amount)
    )


def default_shipping_option(cart: Cart) -> ShippingOption | None:
    """The region's first option as listed (the cheapest)."""
    options = cart.region.shipping_options
    return options[0] if options else None


def create_payment_sessions(cart: Cart) -> None:
    """A session for each provider of the region; with only one, it is selected, as Medusa
    does."""
    existing = {session.provider_id for session in cart.payment_sessions}
    for provider_id in PAYMENT_PROVIDERS:
        if provider_id not in existing:
            db.session.add(
                PaymentSession(
                    cart_id=cart.id,
                    provider_id=provider_id,
                    is_selected=len(PAYMENT_PROVIDERS) == 1,
                )
            )


def select_payment_session(cart: Cart, provider_id: str) -> None:
    """Select the session of ``provider_id`` (made if missing), and no other."""
    chosen = None
    for session in cart.payment_sessions:
        session.is_selected = session.provider_id == provider_id
        if session.is_selected:
            chosen = session
    if chosen is None:
        db.session.add(PaymentSession(cart_id=cart.id, provider_id=provider_id, is_selected=True))
