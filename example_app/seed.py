"""``flask --app example_app seed``: demo regions, products with variants and prices, and
shipping options, each added once however often it runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click
from flask.cli import with_appcontext

from .extensions import db
from .models import MoneyAmount, Product, ProductVariant, Region, ShippingOption

# (id, name, currency, tax rate in basis points). The first by name is the default region.
DEMO_REGIONS = (
    ("reg_europe", "Europe", "eur", 2000),
    ("reg_north_america", "North America", "usd", 825),
)
# (id, region, name, amount): each region's cheapest option is its default.
DEMO_SHIPPING_OPTIONS = (
    ("so_europe_standard", "reg_europe", "Standard Shipping", 800),
    ("so_europe_express", "reg_europe", "Express Shipping", 1500),
    ("so_north_america_standard", "reg_north_america", "Standard Shipping", 1000),
    ("so_north_america_express", "reg_north_america", "Express Shipping", 2200),
)
# (id, handle, title, [(variant id, title, sku, {currency: amount})]).
DEMO_PRODUCTS = (
    (
        "prod_tshirt",
        "t-shirt",
        "Medusa T-Shirt",
        [
            ("variant_tshirt_s", "S", "TSHIRT-S", {"eur": 2500, "usd": 2800}),
            ("variant_tshirt_m", "M", "TSHIRT-M", {"eur": 2500, "usd": 2800}),
            ("variant_tshirt_l", "L", "TSHIRT-L", {"eur": 2500, "usd": 2800}),
        ],
    ),
    (
        "prod_hoodie",
        "hoodie",
        "Medusa Hoodie",
        [
            ("variant_hoodie_m", "M", "HOODIE-M", {"eur": 5500, "usd": 6000}),
            ("variant_hoodie_l", "L", "HOODIE-L", {"eur": 5500, "usd": 6000}),
        ],
    ),
    (
        "prod_mug",
        "mug",
        "Coffee Mug",
        [("variant_mug", "One size", "MUG", {"eur": 1200, "usd": 1400})],
    ),
)


def demo_rows() -> Iterator[tuple[type[Any], str, dict[str, Any]]]:
    """Every demo row as (model, id, fields), parents before children."""
    for region_id, name, currency, rate in DEMO_REGIONS:
        yield (
            Region,
            region_id,
            {"name": name, "currency_code": currency, "tax_rate_basis_points": rate},
        )
    for option_id, region_id, name, amount in DEMO_SHIPPING_OPTIONS:
        yield ShippingOption, option_id, {"region_id": region_id, "name": name, "amount": amount}
    for product_id, handle, title, variants in DEMO_PRODUCTS:
        yield Product, product_id, {"handle": handle, "title": title}
        for rank, (variant_id, variant_title, sku, prices) in enumerate(variants):
            yield (
                ProductVariant,
                variant_id,
                {
                    "product_id": product_id,
                    "title": variant_title,
                    "sku": sku,
                    "variant_rank": rank,
                },
            )
            for currency, amount in prices.items():
                yield (
                    MoneyAmount,
                    f"ma_{variant_id.removeprefix('variant_')}_{currency}",
                    {"variant_id": variant_id, "currency_code": currency, "amount": amount},
                )


def seed_demo() -> tuple[int, int]:
    """Add the demo rows that are not there yet: (added, already there)."""
    added = existing = 0
    for model, row_id, fields in demo_rows():
        if db.session.get(model, row_id) is None:
            db.session.add(model(id=row_id, **fields))
            db.session.flush()
            added += 1
        else:
            existing += 1
    db.session.commit()
    return added, existing


@click.command("seed")
@with_appcontext
def seed_command() -> None:
    """Add the demo regions, products and shipping options that are not there yet."""
    added, existing = seed_demo()
    click.echo(f"Added {added} demo rows ({existing} already there).")
