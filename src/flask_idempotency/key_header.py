"""Reading the key a client sent.

The IETF draft makes the value an RFC 8941 sf-string (``Idempotency-Key: "8e03978e-..."``),
parsed here by ``http-sfv``; Stripe clients send a bare token (``Idempotency-Key: 8e03978e-...``).
Both name the same key. A quoted key is 1 to ``max_length`` characters of printable ASCII, spaces
included, and any parameters after it (``"abc";v=1``) are ignored: they do not name another key.
A bare key is taken as it is, 1 to ``max_length`` visible ASCII characters, so that every key
Stripe's clients send keeps working, including the ones RFC 8941 would not read as a token
(``8e03978e-...`` starts with a digit). Anything else could not be echoed back safely in a
header or compared reliably, so it is refused before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from http_sfv.item import Item
from http_sfv.list import List as StructuredList

from .errors import InvalidIdempotencyKey

_VISIBLE_ASCII = frozenset(chr(code) for code in range(0x21, 0x7F))


@dataclass(frozen=True)
class ClientKey:
    value: str
    # True when the client used the RFC 8941 form, so the echo uses it too.
    quoted: bool
    # The parameters the client sent after a quoted key, serialized (";v=1"), echoed with it.
    parameters: str = ""

    def header_value(self) -> str:
        if not self.quoted:
            return self.value
        return str(Item(self.value)) + self.parameters


def parse_key_header(values: list[str], *, header: str, max_length: int) -> ClientKey | None:
    """The key in the request's header values, None when there is none; raises 400 on bad input."""
    if not values:
        return None
    if len(values) > 1:
        raise InvalidIdempotencyKey(f"Send one {header} header, not {len(values)}.")
    # Optional whitespace around a field value is not part of it (RFC 9110, section 5.5).
    raw = values[0].strip(" \t")
    if raw.startswith('"'):
        key = _parse_quoted(raw, header)
    else:
        # A WSGI server hands over a header sent twice as one value, the two joined by a comma
        # (RFC 9110, section 5.3), so a comma in a bare key is the header sent twice.
        if "," in raw:
            raise InvalidIdempotencyKey(
                f"Send one {header} header, not several (a bare key cannot contain a comma)."
            )
        if raw and not _VISIBLE_ASCII.issuperset(raw):
            raise InvalidIdempotencyKey(
                f"A bare {header} may contain only visible ASCII characters (no spaces or control "
                'characters); send a key with spaces as a quoted string, "like this".'
            )
        key = ClientKey(raw, quoted=False)
    if not key.value:
        raise InvalidIdempotencyKey(f"The {header} header is empty.")
    if len(key.value) > max_length:
        raise InvalidIdempotencyKey(
            f"The {header} is {len(key.value)} characters long; at most {max_length} are allowed."
        )
    return key


def _parse_quoted(raw: str, header: str) -> ClientKey:
    invalid = (
        f"The quoted {header} is not an RFC 8941 string: printable ASCII and spaces between "
        'double quotes, with \\" and \\\\ as the only escapes.'
    )
    try:
        # A server decodes header bytes as latin-1; anything outside ASCII is no sf-string.
        encoded = raw.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidIdempotencyKey(invalid) from None
    # Parsed as a list, so that two quoted keys joined by a server's comma read as two headers.
    members = StructuredList()
    try:
        members.parse(encoded)
    except ValueError:
        raise InvalidIdempotencyKey(invalid) from None
    if len(members) > 1:
        raise InvalidIdempotencyKey(f"Send one {header} header, not {len(members)}.")
    [member] = members
    # A quoted value parses as a string, whatever follows it; checked all the same.
    if not isinstance(member, Item) or not isinstance(member.value, str):
        raise InvalidIdempotencyKey(invalid)
    return ClientKey(member.value, quoted=True, parameters=str(member.params))
