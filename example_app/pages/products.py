"""``GET /``: every product, each variant with its price and an "Add to cart" form."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import select

from ..extensions import db
from ..models import Product
from .blueprint import pages
from .shopper_cart import shopper_region


def products_page(error: str | None = None) -> str:
    """The products page; ``error`` says why an add to the cart was refused."""
    products = db.session.scalars(select(Product).order_by(Product.title, Product.id)).all()
    return render_template("products.html", products=products, region=shopper_region(), error=error)


@pages.get("/")
def products() -> str:
    return products_page()
