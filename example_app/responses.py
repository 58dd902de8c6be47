"""The JSON shapes of Medusa's v1 store API, for the fields this storefront has.

Ids are strings with Medusa's prefixes, amounts integers in the currency's smallest unit,
``tax_rate`` a percentage, times ISO 8601 in UTC. Fields of Medusa's that the demo has no use
for (discounts, gift cards, addresses, customers) are left out rather than faked, except the
empty lists and zero totals a storefront reads unconditionally.
"""

from __future__ import annotations

from typing import Any

from .models import (
    FULFILLMENT_PROVIDERS,
    PAYMENT_PROVIDERS,
    Cart,
    LineItem,
    Order,
    Payment,
    PaymentSession,
    Product,
    ProductVariant,
    Region,
    ShippingMethod,
    ShippingOption,
    TaxLine,
    timestamp,
)
from .money import percentage, tax_for
from .totals import cart_totals, item_tax, shipping_tax

JSON = dict[str, Any]


def region_json(region: Region) -> JSON:
    return {
        "object": "region",
        "id": region.id,
        "name": region.name,
        "currency_code": region.currency_code,
        "tax_rate": percentage(region.tax_rate_basis_points),
        "tax_code": None,
        "automatic_taxes": True,
        "includes_tax": False,
        "payment_providers": [{"id": name, "is_installed": True} for name in PAYMENT_PROVIDERS],
        "fulfillment_providers": [
            {"id": name, "is_installed": True} for name in FULFILLMENT_PROVIDERS
        ],
        "created_at": timestamp(region.created_at),
    }


def variant_json(variant: ProductVariant) -> JSON:
    return {
        "object": "product_variant",
        "id": variant.id,
        "title": variant.title,
        "product_id": variant.product_id,
        "sku": variant.sku,
        "variant_rank": variant.variant_rank,
        "allow_backorder": True,
        "manage_inventory": False,
        "prices": [
            {
                "id": price.id,
                "currency_code": price.currency_code,
                "amount": price.amount,
                "variant_id": variant.id,
                "region_id": None,
                "min_quantity": None,
                "max_quantity": None,
            }
            for price in variant.prices
        ],
    }


def product_json(product: Product) -> JSON:
    return {
        "object": "product",
        "id": product.id,
        "title": product.title,
        "handle": product.handle,
        "description": product.description,
        "status": "published",
        "thumbnail": None,
        "is_giftcard": False,
        "discountable": True,
        "variants": [variant_json(variant) for variant in product.variants],
        "created_at": timestamp(product.created_at),
    }


def shipping_option_json(option: ShippingOption) -> JSON:
    tax = tax_for(option.amount, option.region.tax_rate_basis_points)
    return {
        "object": "shipping_option",
        "id": option.id,
        "name": option.name,
        "region_id": option.region_id,
        "provider_id": option.provider_id,
        "price_type": "flat_rate",
        "amount": option.amount,
        "tax_amount": tax,
        "price_incl_tax": option.amount + tax,
        "is_return": False,
        "admin_only": False,
        "data": {},
    }


def tax_line_json(line: TaxLine) -> JSON:
    owner = (
        {"item_id": line.item_id}
        if line.item_id is not None
        else {"shipping_method_id": line.shipping_method_id}
    )
    return {
        "id": line.id,
        **owner,
        "name": line.name,
        "code": None,
        "rate": percentage(line.rate_basis_points),
    }


def line_item_json(item: LineItem, cart: Cart, order_id: str | None = None) -> JSON:
    tax = item_tax(item, cart.region.tax_rate_basis_points)
    return {
        "object": "line_item",
        "id": item.id,
        "cart_id": item.cart_id,
        "order_id": order_id,
        "title": item.title,
        "description": item.description,
        "thumbnail": None,
        "variant_id": item.variant_id,
        "variant": {
            "id": item.variant.id,
            "title": item.variant.title,
            "product_id": item.variant.product_id,
            "sku": item.variant.sku,
        },
        "product_id": item.variant.product_id,
        "unit_price": item.unit_price,
        "quantity": item.quantity,
        "is_giftcard": False,
        "should_merge": True,
        "allow_discounts": True,
        "has_shipping": bool(cart.shipping_methods),
        "tax_lines": [tax_line_json(line) for line in item.tax_lines],
        "subtotal": item.subtotal,
        "discount_total": 0,
        "tax_total": tax,
        "total": item.subtotal + tax,
        "original_total": item.subtotal + tax,
        "original_tax_total": tax,
        "created_at": timestamp(item.created_at),
    }


def shipping_method_json(method: ShippingMethod, cart: Cart, order_id: str | None = None) -> JSON:
    tax = shipping_tax(method, cart.region.tax_rate_basis_points)
    return {
        "object": "shipping_method",
        "id": method.id,
        "cart_id": method.cart_id,
        "order_id": order_id,
        "shipping_option_id": method.shipping_option_id,
        "shipping_option": shipping_option_json(method.shipping_option),
        "price": method.price,
        "data": {},
        "tax_lines": [tax_line_json(line) for line in method.tax_lines],
        "subtotal": method.price,
        "tax_total": tax,
        "total": method.price + tax,
    }


def payment_session_json(session: PaymentSession, cart: Cart) -> JSON:
    return {
        "object": "payment_session",
        "id": session.id,
        "cart_id": session.cart_id,
        "provider_id": session.provider_id,
        "is_selected": session.is_selected,
        "is_initiated": True,
        "status": session.status,
        "amount": cart_totals(cart).total,
        "data": {},
        "created_at": timestamp(session.created_at),
    }


def cart_json(cart: Cart) -> JSON:
    totals = cart_totals(cart)
    selected = cart.payment_session
    return {
        "object": "cart",
        "id": cart.id,
        "type": "default",
        "email": cart.email,
        "region_id": cart.region_id,
        "region": region_json(cart.region),
        "items": [line_item_json(item, cart) for item in cart.items],
        "shipping_methods": [
            shipping_method_json(method, cart) for method in cart.shipping_methods
        ],
        "payment_sessions": [
            payment_session_json(session, cart) for session in cart.payment_sessions
        ],
        "payment_session": None if selected is None else payment_session_json(selected, cart),
        "discounts": [],
        "gift_cards": [],
        "subtotal": totals.subtotal,
        "discount_total": 0,
        "shipping_total": totals.shipping_total,
        "item_tax_total": totals.item_tax_total,
        "shipping_tax_total": totals.shipping_tax_total,
        "tax_total": totals.tax_total,
        "gift_card_total": 0,
        "total": totals.total,
        "created_at": timestamp(cart.created_at),
        "updated_at": timestamp(cart.updated_at),
        "payment_authorized_at": timestamp(cart.payment_authorized_at),
        "completed_at": timestamp(cart.completed_at),
    }


def payment_json(payment: Payment, order_id: str | None) -> JSON:
    return {
        "object": "payment",
        "id": payment.id,
        "cart_id": payment.cart_id,
        "order_id": order_id,
        "provider_id": payment.provider_id,
        "currency_code": payment.currency_code,
        "amount": payment.amount,
        "amount_refunded": 0,
        "data": {},
        "captured_at": None,
        "created_at": timestamp(payment.created_at),
    }


def order_json(order: Order) -> JSON:
    cart = order.cart
    return {
        "object": "order",
        "id": order.id,
        "status": "pending",
        "fulfillment_status": "not_fulfilled",
        "payment_status": "awaiting",
        "cart_id": order.cart_id,
        "email": order.email,
        "region_id": order.region_id,
        "region": region_json(order.region),
        "currency_code": order.currency_code,
        "tax_rate": percentage(order.tax_rate_basis_points),
        "items": [line_item_json(item, cart, order.id) for item in cart.items],
        "shipping_methods": [
            shipping_method_json(method, cart, order.id) for method in cart.shipping_methods
        ],
        "payments": [payment_json(order.payment, order.id)],
        "discounts": [],
        "gift_cards": [],
        "subtotal": order.subtotal,
        "discount_total": 0,
        "shipping_total": order.shipping_total,
        "tax_total": order.tax_total,
        "gift_card_total": 0,
        "total": order.total,
        "paid_total": 0,
        "refunded_total": 0,
        "created_at": timestamp(order.created_at),
    }
