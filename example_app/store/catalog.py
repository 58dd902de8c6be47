"""Regions and products: ``GET /store/regions``, ``GET /store/products`` and one of each."""

from __future__ import annotations

from collections.abc import Callable
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


def listing(name: str, model: Any, order_by: Any, to_json: Callable[[Any], Any]) -> dict[str, Any]:
    """One page of ``model``'s rows in Medusa's list shape: the rows under ``name``, the count
    of all, the page's offset and limit."""
    limit, offset = page()
    rows = db.session.scalars(select(model).order_by(*order_by).limit(limit).offset(offset))
    count = db.session.scalar(select(func.count()).select_from(model))
    return {name: [to_json(row) for row in rows], "count": count, "offset": offset, "limit": limit}


@store.get("/regions")
def list_regions() -> dict[str, Any]:
    return listing("regions", Region, (Region.name, Region.id), region_json)


@store.get("/regions/<region_id>")
def get_region(region_id: str) -> dict[str, Any]:
    return {"region": region_json(region_or_404(region_id))}


@store.get("/products")
def list_products() -> dict[str, Any]:
    return listing("products", Product, (Product.title, Product.id), product_json)


@store.get("/products/<product_id>")
def get_product(product_id: str) -> dict[str, Any]:
    return {"product": product_json(product_or_404(product_id))}
