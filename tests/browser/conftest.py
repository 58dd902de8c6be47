"""The storefront's checkout page in headless Chromium (Debian's ``/usr/bin/chromium``, driven
by Playwright): the storefront migrated, seeded and served by gunicorn once per database, with
fault injection on; one browser per run, a fresh context (cookies, sessionStorage) per test,
and a screenshot of the page when a test fails."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from example_app.extensions import db
from example_app.seed import seed_demo
from tests.browser.playwright_api import INSTALLED, Browser, Page, expect, sync_playwright
from tests.conftest import DATABASES, unavailable
from tests.served import serve
from tests.storefront.conftest import build_storefront

CHROMIUM = Path("/usr/bin/chromium")
REQUIRED = "Chromium and Playwright"
INSTALL_PLAYWRIGHT = "Playwright is not installed: run `pip install -e '.[test]'`"
INSTALL_CHROMIUM = (
    f"Chromium is not installed at {CHROMIUM}: run `apt-get install chromium` (Playwright "
    "drives the system's Chromium and never downloads one)"
)

# How long a step may take (an action, a navigation, an expectation): the first pages wait for
# gunicorn's workers to start, and retries wait out back-off and Retry-After.
TIMEOUT_MILLISECONDS = 20_000


@dataclass(frozen=True)
class ServedStorefront:
    kind: str
    base_url: str
    database_url: str
    log_path: Path
    # The storefront in this process, on the same database: to read what the served one wrote.
    app: Flask


def migrate_and_seed(app: Flask) -> None:
    """The storefront's tables as an operator makes them, with ``flask db upgrade`` and
    ``flask seed``, run in this process."""
    with app.app_context():
        upgrade()
        seed_demo()
        db.session.remove()


def drop_every_table(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        tables = sa.MetaData()
        tables.reflect(engine)
        tables.drop_all(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=DATABASES)
def storefront(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    server_database: Callable[[str], str],
) -> Iterator[ServedStorefront]:
    """``gunicorn -w 4 "example_app:create_app()"`` with fault injection on, over a database
    migrated and seeded, shared by the module's tests on that database: each test shops with
    a cart of its own."""
    kind = str(request.param)
    directory = tmp_path_factory.mktemp(f"storefront-{kind}")
    if kind == "sqlite":
        database_url = f"sqlite:///{directory / 'storefront.sqlite'}"
    else:
        database_url = server_database(kind)
    app = build_storefront(database_url)
    migrate_and_seed(app)
    try:
        with serve(
            "example_app:create_app()",
            directory,
            FLASK_SQLALCHEMY_DATABASE_URI=database_url,
            FLASK_STOREFRONT_FAULTS="true",
        ) as server:
            yield ServedStorefront(
                kind, f"http://127.0.0.1:{server.port}", database_url, server.log_path, app
            )
    finally:
        with app.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()
        # The server databases are shared by the whole run.
        drop_every_table(database_url)


# Package-scoped: Playwright's sync API runs an event loop in this thread while it lives, and
# Flask's async views (asgiref's AsyncToSync) refuse to run in a thread that has one, so it
# must be gone before the rest of the suite runs.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Headless Chromium, one for all the browser tests."""
    if not INSTALLED:
        unavailable(INSTALL_PLAYWRIGHT, required=REQUIRED)
    if not CHROMIUM.exists():
        unavailable(INSTALL_CHROMIUM, required=REQUIRED)
    expect.set_options(timeout=TIMEOUT_MILLISECONDS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, storefront: ServedStorefront, tmp_path: Path) -> Iterator[Page]:
    """A page in a context of its own, as a new shopper: no cookies, empty sessionStorage."""
    context = browser.new_context(base_url=storefront.base_url)
    context.set_default_timeout(TIMEOUT_MILLISECONDS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's page as it was, saved before the context closes; its path, and the
    server's log, in the report."""
    report = yield
    funcargs = getattr(item, "funcargs", {})
    page = funcargs.get("page")
    if report.when == "call" and report.failed and page is not None:
        lines = []
        screenshot = funcargs["tmp_path"] / "failure.png"
        try:
            page.screenshot(path=screenshot, full_page=True)
            lines.append(f"screenshot: {screenshot}")
        except Exception as error:  # a crashed page must not hide the test's own failure
            lines.append(f"no screenshot: {error}")
        served = funcargs.get("storefront")
        if isinstance(served, ServedStorefront):
            lines.append(f"gunicorn log: {served.log_path}")
        report.sections.append(("browser", "\n".join(lines)))
    return report
