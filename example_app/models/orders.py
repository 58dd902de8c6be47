"""What completing a cart creates: tax lines, a payment (the ledger: one row per authorization
taken) and an order."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .carts import Cart
from .catalog import Region
from .ids import ID_LENGTH, Timestamp, new_id, utcnow


class TaxLine(db.Model):  # type: ignore[name-defined, misc]
    """The tax on one line item or on the shipping method, fixed when completion starts.
    Its amount is kept, so that the order's tax total is the sum of its tax lines."""

    __tablename__ = "tax_line"

    # "litl_..." for a line item's, "smtl_..." for the shipping method's, as Medusa names them.
    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    cart_id: Mapped[str] = mapped_column(ForeignKey("cart.id"), index=True)
    item_id: Mapped[str | None] = mapped_column(ForeignKey("line_item.id"), nullable=True)
    shipping_method_id: Mapped[str | None] = mapped_column(
        ForeignKey("shipping_method.id"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(100))
    rate_basis_points: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)


class Payment(db.Model):  # type: ignore[name-defined, misc]
    """The payment ledger: one row per authorization taken."""

    __tablename__ = "payment"

    id: Mapped[str] = mapped_column(
        String(ID_LENGTH), primary_key=True, default=lambda: new_id("pay")
    )
    # Unique: the last line of defence against authorizing one cart twice.
    cart_id: Mapped[str] = mapped_column(ForeignKey("cart.id"), unique=True)
    provider_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    currency_code: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Order(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "order"

    id: Mapped[str] = mapped_column(
        String(ID_LENGTH), primary_key=True, default=lambda: new_id("order")
    )
    # Unique: one order per cart, whatever happens above.
    cart_id: Mapped[str] = mapped_column(ForeignKey("cart.id"), unique=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payment.id"))
    region_id: Mapped[str] = mapped_column(ForeignKey("region.id"))
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    currency_code: Mapped[str] = mapped_column(String(3))
    tax_rate_basis_points: Mapped[int] = mapped_column(Integer)
    subtotal: Mapped[int] = mapped_column(Integer)
    shipping_total: Mapped[int] = mapped_column(Integer)
    tax_total: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    cart: Mapped[Cart] = relationship()
    payment: Mapped[Payment] = relationship()
    region: Mapped[Region] = relationship()
