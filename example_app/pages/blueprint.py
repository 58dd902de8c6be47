"""The ``pages`` blueprint: the shop as server-rendered pages for a browser, at the site's
root. Its templates are the app's (``example_app/templates``), its script and styles the app's
static files (``example_app/static``), so everything a page needs is served by Flask."""

from flask import Blueprint

pages = Blueprint("pages", __name__)
