"""Turning a response into what is stored, and what is stored back into a response.

A response's body is stored when it is bounded: bytes in memory, or a file the view sends
(Flask's ``send_file``), which is read once the size limit is known so that a file too large to
keep goes to the client as it is, never through memory. A body streamed from a generator has no
bound and cannot be stored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from flask import Response, current_app, has_request_context, request
from werkzeug.wsgi import FileWrapper

from .config import NEVER_STORED_HEADERS
from .errors import ResponseNotKept, ResponseNotStorable
from .json_storage import is_storable
from .model import IdempotencyKey

REPLAYED_HEADER = "Idempotent-Replayed"

logger = logging.getLogger("flask_idempotency")


@dataclass(frozen=True)
class StoredResponse:
    code: int
    # A file the view sends is read only when kept_within knows the limit (see FileBody).
    body: bytes | FileBody
    headers: list[list[str]]
    # The body as a JSON document when it is one, for the response_body column.
    document: Any

    @classmethod
    def capture(cls, response: Response, stored_headers: Sequence[str]) -> StoredResponse:
        headers = _captured_headers(response, stored_headers)
        file = _sent_file(response)
        if file is not None or _sent_by_front_server(response):
            return cls(response.status_code, FileBody(response, file), headers, None)
        if response.is_streamed:
            raise ResponseNotStorable(
                "The view returned a response streamed from a generator, which has no end "
                "known in advance and cannot be stored for replay; return the whole body, or "
                "a file with send_file(), from an idempotent view."
            )
        body = response.get_data()
        return cls(response.status_code, body, headers, _json_document(response, body))

    def values(self) -> dict[str, Any]:
        return {
            "response_code": self.code,
            "response_body": self.document,
            "response_bytes": self.body,
            "response_headers": self.headers,
            "response_kept": True,
        }


class FileBody:
    """The body of a response that sends a file, not read yet.

    Its size is bounded, but the file may be large: it is read only once the limit is known, and
    only when it fits. Then the response sends the bytes read (direct passthrough off, the file
    closed, Content-Length the length read, no X-Sendfile), so that the first client gets
    exactly what is stored. A file over the limit is left to the response, which sends it as it
    would have.
    """

    def __init__(self, response: Response, file: Iterable[bytes] | None) -> None:
        """``file`` is the body's file wrapper; None for a file the front server sends
        (X-Sendfile), which is opened here only when it may fit."""
        self.response = response
        self.file = file
        # What Content-Length says; None when the file's size was not known to send_file.
        self.declared_size = response.content_length

    def read_within(self, max_size: int) -> bytes | None:
        """The whole body when it is at most ``max_size`` bytes; None when it is larger."""
        if self.declared_size is not None and self.declared_size > max_size:
            return None
        file = self.file if self.file is not None else _open_sent_by_front_server(self.response)
        if file is None:
            return None
        chunks = iter(file)
        read: list[bytes] = []
        size = 0
        try:
            for chunk in chunks:
                read.append(chunk)
                size += len(chunk)
                if size > max_size:
                    # Larger than it said, or it did not say. The front server sends its file
                    # from the start; any other goes on after what was read, so that only a
                    # limit's worth was ever held in memory.
                    if self.file is None:
                        _close(file)
                    else:
                        self.response.response = _Resumed(b"".join(read), chunks, file)
                        del self.response.headers["Content-Length"]
                    return None
        except BaseException:
            _close(file)
            raise
        _close(file)
        body = b"".join(read)
        del self.response.headers["X-Sendfile"]
        self.response.direct_passthrough = False
        self.response.set_data(body)
        return body

    def document(self, body: bytes) -> Any:
        return _json_document(self.response, body)


def kept_within(response_values: Mapping[str, Any], max_size: int) -> dict[str, Any]:
    """What is stored of a captured response: all of it when its body is at most ``max_size``
    bytes; otherwise its status and headers only, marked as not kept.

    A body too large to store must not stop the request from finishing: its work is done and
    the client is sent the whole response; a retry then learns that it completed (see replay).
    """
    body = response_values.get("response_bytes")
    if isinstance(body, FileBody):
        read = body.read_within(max_size)
        if read is None:
            return _not_kept(response_values, body.declared_size, max_size)
        return {**response_values, "response_bytes": read, "response_body": body.document(read)}
    if body is None or len(body) <= max_size:
        return dict(response_values)
    return _not_kept(response_values, len(body), max_size)


def _not_kept(
    response_values: Mapping[str, Any], size: int | None, max_size: int
) -> dict[str, Any]:
    logger.warning(
        "a response of %s bytes is larger than IDEMPOTENCY_MAX_RESPONSE_SIZE (%d): it is sent "
        "but not kept, and a retry with its key gets 410 ResponseNotKept",
        f"more than {max_size}" if size is None else size,
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
            if name.lower() == "content-type":
                # Once, also from a key stored when a listed Content-Type was stored twice.
                response.headers[name] = value
            else:
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


def _captured_headers(response: Response, stored_headers: Sequence[str]) -> list[list[str]]:
    """Content-Type, then every value of each stored header, as the response has them: each
    header once however often or in whatever case it is listed, several values in their order.
    """
    headers = [["Content-Type", response.headers["Content-Type"]]] if response.content_type else []
    wanted = {name.lower() for name in stored_headers} - NEVER_STORED_HEADERS - {"content-type"}
    headers.extend([name, value] for name, value in response.headers if name.lower() in wanted)
    return headers


def _sent_file(response: Response) -> Iterable[bytes] | None:
    """The body when it is a file the view sends, wrapped by werkzeug's FileWrapper or by the
    WSGI server's own ``wsgi.file_wrapper`` (as send_file wraps it): a bounded body."""
    body = response.response
    if isinstance(body, FileWrapper):
        return body
    server_wrapper = request.environ.get("wsgi.file_wrapper") if has_request_context() else None
    if isinstance(server_wrapper, type) and isinstance(body, server_wrapper):
        return cast("Iterable[bytes]", body)
    return None


def _sent_by_front_server(response: Response) -> bool:
    """Whether the body is a file the front server sends (send_file with USE_X_SENDFILE): an
    empty body and the file's path in X-Sendfile."""
    return "X-Sendfile" in response.headers and response.is_sequence and not response.get_data()


def _open_sent_by_front_server(response: Response) -> Iterable[bytes] | None:
    try:
        return FileWrapper(open(response.headers["X-Sendfile"], "rb"))
    except OSError:
        # The front server may see files the app cannot; it sends this one, which is not kept.
        return None


class _Resumed:
    """A file's first chunks, already read, followed by the rest of it; closing it closes the
    file, as the server would have closed the file's wrapper."""

    def __init__(self, head: bytes, rest: Iterator[bytes], file: Iterable[bytes]) -> None:
        self._head = head
        self._rest = rest
        self._file = file

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        yield from self._rest

    def close(self) -> None:
        _close(self._file)


def _close(file: object) -> None:
    close = getattr(file, "close", None)
    if callable(close):
        close()
