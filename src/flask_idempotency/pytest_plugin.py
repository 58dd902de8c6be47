"""The pytest plugin of flask-idempotency, loaded through the ``pytest11`` entry point.

It offers two fixtures and nothing else:

``idempotent_client``
    An :class:`~flask_idempotency.testing.IdempotentClient` for the project's own ``app``
    fixture, as pytest-flask's ``client`` is a plain one.
``assert_idempotent``
    The function :func:`flask_idempotency.testing.assert_idempotent`.

Every pytest run in an environment where flask-idempotency is installed loads this module,
so it imports nothing beyond pytest until a test asks for one of its fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from flask import Flask
    from werkzeug.test import TestResponse

    from .testing import IdempotentClient


@pytest.fixture
def idempotent_client(app: Flask) -> Iterator[IdempotentClient]:
    """A test client of ``app`` that sends a fresh ``Idempotency-Key`` with every request
    other than GET, HEAD and OPTIONS; ``idempotent_client.last_key`` is the last one sent."""
    from .testing import idempotent_client as client_for

    with client_for(app) as client:
        yield client


@pytest.fixture
def assert_idempotent() -> Callable[..., tuple[TestResponse, TestResponse]]:
    """``assert_idempotent(client, method, url, **kwargs)``: sends the request twice under
    one key, asserts that the second answer is an identical replay of the first, and returns
    both responses."""
    from .testing import assert_idempotent as check

    return check
