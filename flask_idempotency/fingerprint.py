"""What makes two requests "the same request" for one key.

A key reused for a different request must be refused (422), and the comparison must not be
fooled by formatting: JSON bodies are compared in canonical form (key order and whitespace do
not count), form fields and query arguments in sorted order. Bodies of other types are compared
by their SHA-256 digest, which is all that is stored of them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from flask import Request

from .errors import MalformedRequestBody
from .json_storage import is_storable

_FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})
# JSON nested deeper than this is refused. Parsing and encoding recurse once per level, so a
# body nested nearly as deep as Python's recursion limit could parse here and then fail, as a
# 500, where it is encoded for the digest or parsed again by the view, deeper in the stack.
MAX_JSON_DEPTH = 512


@dataclass(frozen=True)
class RequestFingerprint:
    method: str
    # Percent-encoded, so that any path can be stored as text (a NUL cannot, in PostgreSQL).
    path: str
    params: dict[str, Any]
    digest: str

    def stored_params(self) -> dict[str, Any]:
        """The params as stored in ``request_params``: as they are where every database can
        store them, otherwise only their digest (the request runs either way)."""
        if is_storable(self.params):
            return self.params
        return {"params_sha256": _canonical_digest(self.params)}


def fingerprint_request(request: Request) -> RequestFingerprint:
    params: dict[str, Any] = {"query": _sorted_multidict(request.args.lists())}
    if request.mimetype in _FORM_TYPES:
        # werkzeug names a multipart part without a name None: no fingerprint can hold it.
        if None in request.form or None in request.files:
            raise MalformedRequestBody("Every part of the multipart body needs a name.")
        params["form"] = _sorted_multidict(request.form.lists())
        if request.files:
            params["files"] = {
                name: [_describe_file(upload) for upload in uploads]
                for name, uploads in sorted(request.files.lists())
            }
    elif request.is_json:
        params["json"] = _parse_json(request.get_data(cache=True))
    else:
        body = request.get_data(cache=True)
        if body:
            params["body_sha256"] = hashlib.sha256(body).hexdigest()
    path = quote(request.path, safe="/!$&'()*+,;=:@-._~%")
    return RequestFingerprint(
        method=request.method,
        path=path,
        params=params,
        digest=digest_of(request.method, path, params),
    )


def digest_of(method: str, path: str, params: Any) -> str:
    return _canonical_digest({"method": method.upper(), "path": path, "params": params})


def _canonical_digest(document: Any) -> str:
    # ASCII escapes keep lone surrogates (valid JSON, invalid UTF-8) encodable.
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _sorted_multidict(items: Any) -> dict[str, list[str]]:
    return {name: list(values) for name, values in sorted(items)}


def _describe_file(upload: Any) -> dict[str, Any]:
    content = upload.stream.read()
    upload.stream.seek(0)
    return {"filename": upload.filename, "sha256": hashlib.sha256(content).hexdigest()}


def _parse_json(body: bytes) -> Any:
    if not body:
        return None
    too_deep = f"The JSON body is nested too deeply (more than {MAX_JSON_DEPTH} levels)."
    try:
        document = json.loads(body)
    except RecursionError:
        raise MalformedRequestBody(too_deep) from None
    except ValueError as error:  # includes UnicodeDecodeError
        raise MalformedRequestBody(f"The JSON body is malformed: {error}") from None
    if _nests_deeper_than(document, MAX_JSON_DEPTH):
        raise MalformedRequestBody(too_deep)
    return document


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
