"""Playwright's sync API, as the browser tests use it; when Playwright is not installed,
``INSTALLED`` is false and the names are None, so that the tests still import and the
``browser`` fixture skips them (fails them under CI) saying how to install it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import (
        APIResponse,
        Browser,
        Locator,
        Page,
        Request,
        Response,
        Route,
        expect,
        sync_playwright,
    )

    INSTALLED = True
else:
    try:
        from playwright.sync_api import (
            APIResponse,
            Browser,
            Locator,
            Page,
            Request,
            Response,
            Route,
            expect,
            sync_playwright,
        )

        INSTALLED = True
    except ModuleNotFoundError:
        INSTALLED = False
        APIResponse = Browser = Locator = Page = Request = Response = Route = None
        expect = sync_playwright = None

__all__ = [
    "INSTALLED",
    "APIResponse",
    "Browser",
    "Locator",
    "Page",
    "Request",
    "Response",
    "Route",
    "expect",
    "sync_playwright",
]
