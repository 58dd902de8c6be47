"""Turning a response into what is stored, and what is stored back into a response."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app

from .errors import ResponseNotKept, ResponseNotStorable
from .json_storage import is_storable
from .model import IdempotencyKey

REPLAYED_HEADER = "Idempotent-Replayed"

logger = logging.getLogger("flask_idempotency")


@dataclass(frozen=True)
class StoredResponse:
    code: int
    body: bytes
    headers: list[list[str]]
    # The body as a JSON document when it is one, for the response_body column.
    document: Any

    @classmethod
    def capture(cls, response: Response, stored_headers: tuple[str, ...]) -> StoredResponse:
        if response.is_streamed:
            raise ResponseNotStorable(
                "The view returned a streamed response, which cannot be stored for replay; "
                "return the whole body from an idempotent view."
            )
        body = response.get_data()
        headers = (
            [["Content-Type", response.headers["Content-Type"]]] if response.content_type else []
        )
        for name in stored_headers:
            headers.extend([name, value] for value in response.headers.getlist(name))
        return cls(response.status_code, body, headers, _json_document(response, body))

    def values(self) -> dict[str, Any]:
        return {
            "response_code": self.code,
            "response_body": self.document,
            "response_bytes": self.body,
            "response_headers": self.headers,
            "response_kept": True,
        }


def kept_within(response_values: Mapping[str, Any], max_size: int) -> dict[str, Any]:
    """What is stored of a captured response: all of it when its body is at most ``max_size``
    bytes; otherwise its status and headers only, marked as not kept.

    A body too large to store must not stop the request from finishing: its work is done and
    the client is sent the whole response; a retry then learns that it completed (see replay).
    """
    body = response_values.get("response_bytes")
    if body is None or len(body) <= max_size:
        return dict(response_values)
    logger.warning(
        "a response of %d bytes is larger than IDEMPOTENCY_MAX_RESPONSE_SIZE (%d): it is sent "
        "but not kept, and a retry with its key gets 410 ResponseNotKept",
        len(body),
        max_size,
    )
    return {
        **response_values,
        "response_body": None,
        "response_bytes": None,
        "response_kept": False,
    }


def replay(key: IdempotencyKey) -> Response:
    """The stored response again, marked as a replay; ``ResponseNotKept`` (410) when the
    request completed but its body was too large to keep."""
    assert key.response_code is not None
    if key.response_kept is False:
        raise ResponseNotKept(key.response_code)
    if key.response_bytes is not None:
        response = current_app.response_class(key.response_bytes, status=key.response_code)
        # The stored Content-Type (or its absence) wins over the response class's default.
        del response.headers["Content-Type"]
        for name, value in key.response_headers or []:
            response.headers.add(name, value)
    else:
        # A final response recorded through work_stage() holds a JSON document only.
        response = current_app.response_class(
            current_app.json.dumps(key.response_body),
            status=key.response_code,
            mimetype="application/json",
        )
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _json_document(response: Response, body: bytes) -> Any:
    if not response.is_json:
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    # The exact bytes are stored regardless; the document is only for reading the table.
    return document if is_storable(document) else None
