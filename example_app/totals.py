"""A cart's totals, as Medusa computes them: tax line by line, shipping taxed like items.

Before completion starts, tax comes from the region's rate; from then on, from the cart's tax
lines, which completion fixed and which nothing changes afterwards. Either way, the tax total
is the sum of the lines' taxes, so an order's tax total is the sum of its tax lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Cart, LineItem, ShippingMethod
from .money import tax_for


def item_tax(item: LineItem, rate_basis_points: int) -> int:
    if item.tax_lines:
        return sum(line.amount for line in item.tax_lines)
    return tax_for(item.subtotal, rate_basis_points)


def shipping_tax(method: ShippingMethod, rate_basis_points: int) -> int:
    if method.tax_lines:
        return sum(line.amount for line in method.tax_lines)
    return tax_for(method.price, rate_basis_points)


@dataclass(frozen=True)
class CartTotals:
    subtotal: int
    shipping_total: int
    item_tax_total: int
    shipping_tax_total: int

    @property
    def tax_total(self) -> int:
        return self.item_tax_total + self.shipping_tax_total

    @property
    def total(self) -> int:
        return self.subtotal + self.shipping_total + self.tax_total


def cart_totals(cart: Cart) -> CartTotals:
    rate = cart.region.tax_rate_basis_points
    return CartTotals(
        subtotal=sum(item.subtotal for item in cart.items),
        shipping_total=sum(method.price for method in cart.shipping_methods),
        item_tax_total=sum(item_tax(item, rate) for item in cart.items),
        shipping_tax_total=sum(shipping_tax(method, rate) for method in cart.shipping_methods),
    )
