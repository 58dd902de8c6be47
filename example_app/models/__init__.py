"""The storefront's tables, in Medusa's shapes. Money is in the currency's smallest unit."""

from .carts import Cart, LineItem, PaymentSession, ShippingMethod
from .catalog import (
    FULFILLMENT_PROVIDERS,
    PAYMENT_PROVIDERS,
    MoneyAmount,
    Product,
    ProductVariant,
    Region,
    ShippingOption,
)
from .ids import is_identifier, new_id, timestamp, utcnow
from .orders import Order, Payment, TaxLine

__all__ = [
    "FULFILLMENT_PROVIDERS",
    "PAYMENT_PROVIDERS",
    "Cart",
    "LineItem",
    "MoneyAmount",
    "Order",
    "Payment",
    "PaymentSession",
    "Product",
    "ProductVariant",
    "Region",
    "ShippingMethod",
    "ShippingOption",
    "TaxLine",
    "is_identifier",
    "new_id",
    "timestamp",
    "utcnow",
]
