"""Products, carts and what completing a cart creates: tax lines, a payment authorization
(a ledger row per authorization) and an order. Money is in integer cents."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db

# 10 %, in basis points, so that tax is computed in integers.
TAX_RATE_BASIS_POINTS = 1000


def new_id(prefix: str) -> str:
    """Medusa-style identifiers: a type prefix and a random part."""
    return f"{prefix}_{uuid.uuid4().hex}"


_IDENTIFIER = re.compile(r"[A-Za-z0-9_]{1,40}")


def is_identifier(value: object) -> bool:
    """Whether ``value`` could be an id here; anything else is known to match no row."""
    return isinstance(value, str) and _IDENTIFIER.fullmatch(value) is not None


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def tax_for(amount: int) -> int:
    return (amount * TAX_RATE_BASIS_POINTS + 5000) // 10000


class Product(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "product"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    handle: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    price: Mapped[int] = mapped_column(Integer)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "handle": self.handle, "title": self.title, "price": self.price}


class Cart(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "cart"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("cart"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # Bumped at the start of every completion stage: the row lock that serialises completions
    # of one cart, whatever their idempotency keys.
    version: Mapped[int] = mapped_column(Integer, default=0)
    items: Mapped[list[LineItem]] = relationship(
        back_populates="cart", order_by="LineItem.created_at, LineItem.id"
    )

    @property
    def subtotal(self) -> int:
        return sum(item.subtotal for item in self.items)

    @property
    def tax_total(self) -> int:
        return sum(tax_for(item.subtotal) for item in self.items)

    @property
    def total(self) -> int:
        return self.subtotal + self.tax_total

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "items": [item.to_dict() for item in self.items],
            "subtotal": self.subtotal,
            "tax_total": self.tax_total,
            "total": self.total,
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
        }


class LineItem(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "line_item"
    __table_args__ = (UniqueConstraint("cart_id", "product_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("item"))
    cart_id: Mapped[str] = mapped_column(ForeignKey("cart.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("product.id"))
    title: Mapped[str] = mapped_column(String(200))
    unit_price: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    cart: Mapped[Cart] = relationship(back_populates="items")

    @property
    def subtotal(self) -> int:
        return self.unit_price * self.quantity

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "product_id": self.product_id,
            "title": self.title,
            "unit_price": self.unit_price,
            "quantity": self.quantity,
            "subtotal": self.subtotal,
        }


class TaxLine(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "tax_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[str] = mapped_column(ForeignKey("cart.id"), index=True)
    line_item_id: Mapped[str] = mapped_column(ForeignKey("line_item.id"))
    rate_basis_points: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)


class PaymentAuthorization(db.Model):  # type: ignore[name-defined, misc]
    """The payment ledger: one row per authorization taken."""

    __tablename__ = "payment_authorization"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("pay"))
    # Unique: the last line of defence against authorizing one cart twice.
    cart_id: Mapped[str] = mapped_column(ForeignKey("cart.id"), unique=True)
    amount: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Order(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "order"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("order"))
    # Unique: one order per cart, whatever happens above.
    cart_id: Mapped[str] = mapped_column(ForeignKey("cart.id"), unique=True)
    payment_authorization_id: Mapped[str] = mapped_column(ForeignKey("payment_authorization.id"))
    subtotal: Mapped[int] = mapped_column(Integer)
    tax_total: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "cart_id": self.cart_id,
            "payment_authorization_id": self.payment_authorization_id,
            "subtotal": self.subtotal,
            "tax_total": self.tax_total,
            "total": self.total,
            "created_at": self.created_at.isoformat(),
        }
