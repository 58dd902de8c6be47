"""What the shop sells and where: regions (a currency and a tax rate), products with their
variants and a price per currency, and the shipping options of each region."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .ids import ID_LENGTH, Timestamp, new_id, utcnow

# Every region offers these: the demo authorizes payments and fulfils orders by hand.
PAYMENT_PROVIDERS = ("manual",)
FULFILLMENT_PROVIDERS = ("manual",)


class Region(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "region"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    currency_code: Mapped[str] = mapped_column(String(3))
    # In basis points: 2000 is Medusa's tax_rate 20 (percent).
    tax_rate_basis_points: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    shipping_options: Mapped[list[ShippingOption]] = relationship(
        back_populates="region", order_by="ShippingOption.amount, ShippingOption.id"
    )


class Product(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "product"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    handle: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    variants: Mapped[list[ProductVariant]] = relationship(
        back_populates="product", order_by="ProductVariant.variant_rank, ProductVariant.id"
    )


class ProductVariant(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "product_variant"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("product.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str | None] = mapped_column(String(100), unique=True, nullable=True)
    variant_rank: Mapped[int] = mapped_column(Integer, default=0)
    product: Mapped[Product] = relationship(back_populates="variants")
    prices: Mapped[list[MoneyAmount]] = relationship(
        back_populates="variant", order_by="MoneyAmount.currency_code"
    )

    def price_in(self, currency_code: str) -> int | None:
        return next(
            (price.amount for price in self.prices if price.currency_code == currency_code), None
        )


class MoneyAmount(db.Model):  # type: ignore[name-defined, misc]
    """A variant's price in one currency."""

    __tablename__ = "money_amount"
    __table_args__ = (UniqueConstraint("variant_id", "currency_code"),)

    id: Mapped[str] = mapped_column(
        String(ID_LENGTH), primary_key=True, default=lambda: new_id("ma")
    )
    variant_id: Mapped[str] = mapped_column(ForeignKey("product_variant.id"))
    currency_code: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(Integer)
    variant: Mapped[ProductVariant] = relationship(back_populates="prices")


class ShippingOption(db.Model):  # type: ignore[name-defined, misc]
    """A flat-rate way to ship in one region, priced in the region's currency."""

    __tablename__ = "shipping_option"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    region_id: Mapped[str] = mapped_column(ForeignKey("region.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    provider_id: Mapped[str] = mapped_column(String(ID_LENGTH), default="manual")
    amount: Mapped[int] = mapped_column(Integer)
    region: Mapped[Region] = relationship(back_populates="shipping_options")
