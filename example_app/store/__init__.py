"""Medusa's v1 store API, the subset a checkout needs. Every view that changes something is
``@idempotent``."""

from . import carts, catalog, checkout, line_items, orders, payment, shipping
from .blueprint import store

__all__ = ["carts", "catalog", "checkout", "line_items", "orders", "payment", "shipping", "store"]
