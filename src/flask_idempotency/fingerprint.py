"""What makes two requests "the same request" for one key.

A key reused for a different request must be refused (422). A request is its method and the
whole URL the app routes on: the host (an app may serve several shops from subdomains), the
script root of an app mounted under a prefix, the path and the query. The comparison must not
be fooled by formatting: JSON bodies are compared in RFC 8785's canonical form (key order,
whitespace and the spelling of numbers do not count: ``10``, ``10.0`` and ``1e1`` are one
number; see canonical_json.py), form fields and query arguments in sorted order. Bodies of
other types are compared by their SHA-256 digest, which is all that is stored of them. The
body is read without taking it from the view (see request_body.py), and what is stored of the
params leaves out the values of sensitive fields (see redaction.py).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Request
from werkzeug.datastructures import FileStorage, MultiDict

from .canonical_json import NotJSON, canonical_json
from .errors import MalformedRequestBody
from .json_storage import is_storable
from .redaction import redacted, sensitive_name_matcher
from .request_body import FORM_TYPES, close_files, parse_form_copy, read_body

# JSON nested deeper than this is refused. Parsing and encoding recurse once per level, so a
# body nested nearly as deep as Python's recursion limit could parse here and then fail, as a
# 500, where it is encoded for the digest or parsed again by the view, deeper in the stack.
MAX_JSON_DEPTH = 512


# The port a URL of each scheme has when it names none.
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


@dataclass(frozen=True)
class RequestFingerprint:
    method: str
    # Lowercase, without the scheme's default port: "oslo.example.test", "[::1]:8080".
    host: str
    # The script root followed by the path, percent-encoded, so that any path can be stored as
    # text (a NUL cannot, in PostgreSQL).
    path: str
    # The real values, secrets included: the digest covers them.
    params: dict[str, Any]
    digest: str

    def stored_params(self, redacted_fields: Iterable[str], *, keep: bool = True) -> dict[str, Any]:
        """The params as stored in ``request_params``: each section (query, form, files, json)
        with the values of fields named like ``redacted_fields`` redacted; where some database
        could not store that as JSON, only its digest (the request runs either way); nothing,
        ``{}``, when the params are not to be kept."""
        if not keep:
            return {}
        is_sensitive = sensitive_name_matcher(redacted_fields)
        kept = {section: redacted(value, is_sensitive) for section, value in self.params.items()}
        if is_storable(kept):
            return kept
        return {"params_sha256": _canonical_digest(kept)}


def fingerprint_request(request: Request) -> RequestFingerprint:
    params: dict[str, Any] = {"query": _sorted_multidict(request.args.lists())}
    body = read_body(request)
    if request.mimetype in FORM_TYPES:
        params.update(_form_params(request, body))
    elif request.is_json:
        params["json"] = _parse_json(body or b"")
    elif body:
        params["body_sha256"] = hashlib.sha256(body).hexdigest()
    path = quote(request.script_root + request.path, safe="/!$&'()*+,;=:@-._~%")
    host = normalized_host(request.host, request.scheme)
    return RequestFingerprint(
        method=request.method,
        host=host,
        path=path,
        params=params,
        digest=digest_of(request.method, path, params, host=host),
    )


def normalized_host(host: str, scheme: str) -> str:
    """The host as URLs compare it: case-insensitively, and without the scheme's default
    port (``Shop.Example.test:443`` over https is ``shop.example.test``)."""
    host = host.lower()
    try:
        port = urlsplit(f"//{host}").port
    except ValueError:
        return host  # not host[:port]; the app's routing had its say on it already
    if port is not None and port == _DEFAULT_PORTS.get(scheme):
        return host.rpartition(":")[0]
    return host


def digest_of(method: str, path: str, params: Any, *, host: str = "") -> str:
    document = {"method": method.upper(), "host": host, "path": path, "params": params}
    return _canonical_digest(document)


def _canonical_digest(document: Any) -> str:
    return hashlib.sha256(canonical_json(document)).hexdigest()


def _sorted_multidict(items: Any) -> dict[str, list[str]]:
    return {name: list(values) for name, values in sorted(items)}


def _form_params(request: Request, body: bytes | None) -> dict[str, Any]:
    if body is None:
        # Parsed before the view was reached: werkzeug's parse is all there is to read.
        return _describe_form(request.form, request.files)
    form, files = parse_form_copy(request, body)
    try:
        return _describe_form(form, files)
    finally:
        close_files(files)


def _describe_form(form: MultiDict[str, str], files: MultiDict[str, FileStorage]) -> dict[str, Any]:
    # werkzeug names a multipart part without a name None: no fingerprint can hold it.
    if None in form or None in files:
        raise MalformedRequestBody("Every part of the multipart body needs a name.")
    params: dict[str, Any] = {"form": _sorted_multidict(form.lists())}
    if files:
        params["files"] = {
            name: [_describe_file(upload) for upload in uploads]
            for name, uploads in sorted(files.lists())
        }
    return params


def _describe_file(upload: FileStorage) -> dict[str, Any]:
    content = upload.stream.read()
    upload.stream.seek(0)
    return {"filename": upload.filename, "sha256": hashlib.sha256(content).hexdigest()}


def _parse_json(body: bytes) -> Any:
    if not body:
        return None
    too_deep = f"The JSON body is nested too deeply (more than {MAX_JSON_DEPTH} levels)."
    try:
        document = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise MalformedRequestBody(too_deep) from None
    except ValueError as error:  # includes UnicodeDecodeError
        raise MalformedRequestBody(f"The JSON body is malformed: {error}") from None
    if _nests_deeper_than(document, MAX_JSON_DEPTH):
        raise MalformedRequestBody(too_deep)
    return document


def _refuse_constant(name: str) -> Any:
    # Python reads NaN and Infinity, which JSON (RFC 8259) has no numbers for.
    raise NotJSON(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    # 1e400 is valid JSON that no double holds: Python reads it as infinity, which the
    # canonical form (RFC 8785) has no text for.
    number = float(text)
    if math.isinf(number):
        raise NotJSON(f"{text} is beyond the range of a JSON number")
    return number


def _nests_deeper_than(document: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels deep; level by level, since
    recursing would hit the very limit this guards."""
    level = [document] if isinstance(document, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [
            child
            for container in level
            for child in (container.values() if isinstance(container, dict) else container)
            if isinstance(child, dict | list)
        ]
    return False
