"""The shop as pages for a browser: products, the cart, checkout details, the review page whose
script places the order through the store API, and orders. Every change goes through the same
functions as the store API's, so the pages and the API cannot disagree about a cart."""

from . import cart, checkout, orders, page_context, products, review
from .blueprint import pages

__all__ = ["cart", "checkout", "orders", "page_context", "pages", "products", "review"]
