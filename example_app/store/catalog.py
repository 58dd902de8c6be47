"""Regions and products: ``GET /store/regions``, ``GET /store/products`` and one of each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ..extensions import db
from ..models import Product, Region
from ..responses import product_json, region_json
from .blueprint import store
from .inputs import query_integer
from .lookups import product_or_404, region_or_404

# Medusa's default page size for both lists.
PAGE_SIZE = 100
MAX_OFFSET = 2**31 - 1


def page() -> tuple[int, int]:
    return (
        query_integer("limit", PAGE_SIZE, maximum=PAGE_SIZE * 10),
        query_integer("offset", 0, maximum=MAX_OFFSET),
    )


@store.get("/regions")
def list_regions() -> dict[str, Any]:
    limit, offset = page()
    regions = db.session.scalars(
        select(Region).order_by(Region.name, Region.id).limit(limit).offset(offset)
    )
    count = db.session.scalar(select(func.count()).select_from(Region))
    return {
        "regions": [region_json(region) for region in regions],
        "count": count,
        "offset": offset,
        "limit": limit,
    }


@store.get("/regions/<region_id>")
def get_region(region_id: str) -> dict[str, Any]:
    return {"region": region_json(region_or_404(region_id))}


@store.get("/products")
def list_products() -> dict[str, Any]:
    limit, offset = page()
    products = db.session.scalars(
        select(Product).order_by(Product.title, Product.id).limit(limit).offset(offset)
    )
    count = db.session.scalar(select(func.count()).select_from(Product))
    return {
        "products": [product_json(product) for product in products],
        "count": count,
        "offset": offset,
        "limit": limit,
    }


@store.get("/products/<product_id>")
def get_product(product_id: str) -> dict[str, Any]:
    return {"product": product_json(product_or_404(product_id))}
