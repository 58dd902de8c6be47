"""Reading a request's body without taking it from the view.

The fingerprint needs the whole body, and the view must find it just as it would without the
decorator: ``get_data()``, ``form``, ``files``, ``stream`` and ``get_json()`` all read werkzeug's
input stream, which can be read only once (a webhook receiver checks an HMAC over the raw bytes,
so even parsing a form first would break it). So the body is read once, through werkzeug's
guarded stream (``max_content_length`` applies, as a 413), and handed back as a fresh WSGI input;
werkzeug's cached stream is dropped so that the view opens a new one over the same bytes.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from flask import Request
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})


def read_body(request: Request) -> bytes | None:
    """The raw body, left in place for the view; None when code that ran before the view (a
    ``before_request``) already parsed it as a form, which keeps no bytes of it."""
    if "form" in vars(request) and request.mimetype in FORM_TYPES:
        return None
    cached: bytes | None = getattr(request, "_cached_data", None)
    if cached is not None:
        # get_data() ran before: werkzeug serves it from memory, to the view as well.
        return cached
    body = request.stream.read()
    if _reached_the_limit(request, body) and request.input_stream.read(1):
        # werkzeug stops reading a body sent without a Content-Length (chunked) at the limit,
        # silently: one more byte from the server's own stream told that there was more.
        raise RequestEntityTooLarge()
    request.environ["wsgi.input"] = BytesIO(body)
    vars(request).pop("stream", None)
    return body


def _reached_the_limit(request: Request, body: bytes) -> bool:
    limit = request.max_content_length
    return request.content_length is None and limit is not None and len(body) >= limit


def parse_form_copy(
    request: Request, body: bytes
) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
    """The form and files in ``body``, parsed with the request's own limits but apart from it,
    so that ``request.form`` is still parsed from the stream the view reads. The caller closes
    the files (see ``close_files``)."""
    parser = request.make_form_data_parser()
    _, form, files = parser.parse(
        BytesIO(body), request.mimetype, len(body), request.mimetype_params
    )
    return form, files


def close_files(files: MultiDict[Any, FileStorage]) -> None:
    # Large uploads are spooled to temporary files; the copy's are not the request's to close.
    for _name, upload in files.items(multi=True):
        upload.close()
