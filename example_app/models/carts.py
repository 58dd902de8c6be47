"""Carts and what a shopper puts in them: line items, a shipping method, payment sessions.

A cart moves one way: open (changes allowed), then being completed (from the moment its
completion's first stage commits: no changes, 409), then completed (no changes, 400).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .catalog import ProductVariant, Region, ShippingOption
from .ids import ID_LENGTH, Timestamp, new_id, utcnow

if TYPE_CHECKING:
    from .orders import TaxLine


class Cart(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "cart"

    id: Mapped[str] = mapped_column(
        String(ID_LENGTH), primary_key=True, default=lambda: new_id("cart")
    )
    region_id: Mapped[str] = mapped_column(ForeignKey("region.id"))
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    # Set by the completion's first stage: from then on the cart takes no changes.
    completion_started_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    payment_authorized_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    # Bumped by every change and every completion stage before anything else: the row lock
    # that serialises everything done to one cart, whatever the idempotency keys.
    version: Mapped[int] = mapped_column(Integer, default=0)
    region: Mapped[Region] = relationship()
    items: Mapped[list[LineItem]] = relationship(
        back_populates="cart", order_by="LineItem.created_at, LineItem.id"
    )
    shipping_methods: Mapped[list[ShippingMethod]] = relationship(
        back_populates="cart", order_by="ShippingMethod.id"
    )
    payment_sessions: Mapped[list[PaymentSession]] = relationship(
        back_populates="cart", order_by="PaymentSession.provider_id"
    )

    @property
    def payment_session(self) -> PaymentSession | None:
        """The selected session, the one completion authorizes."""
        return next((session for session in self.payment_sessions if session.is_selected), None)


class LineItem(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "line_item"
    # One line per variant: adding a variant again adds to its quantity.
    __table_args__ = (UniqueConstraint("cart_id", "variant_id"),)

    id: Mapped[str] = mapped_column(
        String(ID_LENGTH), primary_key=True, default=lambda: new_id("item")
    )
    cart_id: Mapped[str] = mapped_column(ForeignKey("cart.id"), index=True)
    variant_id: Mapped[str] = mapped_column(ForeignKey("product_variant.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(200))
    unit_price: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    cart: Mapped[Cart] = relationship(back_populates="items")
    variant: Mapped[ProductVariant] = relationship()
    tax_lines: Mapped[list[TaxLine]] = relationship(order_by="TaxLine.id")

    @property
    def subtotal(self) -> int:
        return self.unit_price * self.quantity


class ShippingMethod(db.Model):  # type: ignore[name-defined, misc]
    """The shipping option chosen for a cart, at the price it had then."""

    __tablename__ = "shipping_method"

    id: Mapped[str] = mapped_column(
        String(ID_LENGTH), primary_key=True, default=lambda: new_id("sm")
    )
    # One per cart: the demo has a single shipping profile, so a new choice replaces the old.
    cart_id: Mapped[str] = mapped_column(ForeignKey("cart.id"), unique=True)
    shipping_option_id: Mapped[str] = mapped_column(ForeignKey("shipping_option.id"))
    price: Mapped[int] = mapped_column(Integer)
    cart: Mapped[Cart] = relationship(back_populates="shipping_methods")
    shipping_option: Mapped[ShippingOption] = relationship()
    tax_lines: Mapped[list[TaxLine]] = relationship(order_by="TaxLine.id")


class PaymentSession(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "payment_session"
    __table_args__ = (UniqueConstraint("cart_id", "provider_id"),)

    id: Mapped[str] = mapped_column(
        String(ID_LENGTH), primary_key=True, default=lambda: new_id("ps")
    )
    cart_id: Mapped[str] = mapped_column(ForeignKey("cart.id"), index=True)
    provider_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    is_selected: Mapped[bool] = mapped_column(Boolean, default=False)
    # "pending" until the completion authorizes it: then "authorized".
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    cart: Mapped[Cart] = relationship(back_populates="payment_sessions")
