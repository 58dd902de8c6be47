"""``flask --app example_app seed``: demo products, added once however often it runs."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from .extensions import db
from .models import Product

DEMO_PRODUCTS = (
    ("prod_tshirt", "tshirt", "Medusa T-shirt", 2500),
    ("prod_hoodie", "hoodie", "Medusa Hoodie", 5500),
    ("prod_mug", "mug", "Coffee Mug", 1200),
)


def seed_products() -> int:
    existing = set(db.session.scalars(select(Product.handle)))
    added = 0
    for product_id, handle, title, price in DEMO_PRODUCTS:
        if handle not in existing:
            db.session.add(Product(id=product_id, handle=handle, title=title, price=price))
            added += 1
    db.session.commit()
    return added


@click.command("seed")
@with_appcontext
def seed_command() -> None:
    """Add the demo products that are not there yet."""
    added = seed_products()
    click.echo(f"Added {added} demo products ({len(DEMO_PRODUCTS) - added} already there).")
