"""What the review page sent to complete the cart and what it heard back, and every text its
status line showed, as the browser saw them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.browser.playwright_api import Page, Request, Response

COMPLETE_URL = re.compile(r"/store/carts/[^/]+/complete$")
KEY_HEADER = "idempotency-key"
REPLAYED_HEADER = "idempotent-replayed"


def is_completion(request: Request) -> bool:
    return request.method == "POST" and COMPLETE_URL.search(request.url) is not None


@dataclass
class Completions:
    """The page's completion requests, their answers, and those that got none."""

    requests: list[Request] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    failed: list[Request] = field(default_factory=list)

    @classmethod
    def watch(cls, page: Page) -> Completions:
        seen = cls()
        page.on("request", lambda r: seen.requests.append(r) if is_completion(r) else None)
        page.on(
            "response",
            lambda r: seen.responses.append(r) if is_completion(r.request) else None,
        )
        page.on("requestfailed", lambda r: seen.failed.append(r) if is_completion(r) else None)
        return seen

    @property
    def keys(self) -> list[str | None]:
        return [request.headers.get(KEY_HEADER) for request in self.requests]

    def outcomes(self) -> list[str]:
        """Each answer as ``200``, ``200 replayed``, ``409``...; each request without one as
        ``no answer``."""
        answered = [
            f"{r.status} replayed" if r.headers.get(REPLAYED_HEADER) == "true" else str(r.status)
            for r in self.responses
        ]
        return answered + ["no answer"] * len(self.failed)


# Calls the exposed recorder with the status line's text whenever the page changes it.
OBSERVE_STATUS_LINE = """
document.addEventListener("DOMContentLoaded", () => {
  const line = document.getElementById("checkout-status");
  if (line) {
    new MutationObserver(() => window.recordCheckoutStatus(line.textContent)).observe(
      line, { childList: true, characterData: true, subtree: true }
    );
  }
});
"""


def record_status_texts(page: Page) -> list[str]:
    """Every text ``p#checkout-status`` shows from now on, in order, on every page load.
    Call before the page is loaded."""
    shown: list[str] = []

    def record(text: str) -> None:
        shown.append(text)

    page.expose_function("recordCheckoutStatus", record)
    page.add_init_script(OBSERVE_STATUS_LINE)
    return shown
