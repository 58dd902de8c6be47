"""Reading the key a client sent.

Stripe clients send a bare token (``Idempotency-Key: 8e03978e-...``); the IETF draft makes the
value an RFC 8941 string (``Idempotency-Key: "8e03978e-..."``). Both name the same key. The key
itself is 1 to ``max_length`` visible ASCII characters: anything else could not be echoed back
safely in a header or compared reliably, so it is refused before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidIdempotencyKey

_VISIBLE_ASCII = frozenset(chr(code) for code in range(0x21, 0x7F))


@dataclass(frozen=True)
class ClientKey:
    value: str
    # True when the client used the RFC 8941 form, so the echo uses it too.
    quoted: bool

    def header_value(self) -> str:
        if not self.quoted:
            return self.value
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'


def parse_key_header(values: list[str], *, header: str, max_length: int) -> ClientKey | None:
    """The key in the request's header values, None when there is none; raises 400 on bad input."""
    if not values:
        return None
    if len(values) > 1:
        raise InvalidIdempotencyKey(f"Send one {header} header, not {len(values)}.")
    # Optional whitespace around a field value is not part of it (RFC 9110, section 5.5).
    raw = values[0].strip(" \t")
    if raw.startswith('"'):
        key = ClientKey(_unquote(raw, header), quoted=True)
    else:
        # A WSGI server hands over a header sent twice as one value, the two joined by a comma
        # (RFC 9110, section 5.3), so a comma in a bare key is the header sent twice.
        if "," in raw:
            raise InvalidIdempotencyKey(
                f"Send one {header} header, not several (a bare key cannot contain a comma)."
            )
        key = ClientKey(raw, quoted=False)
    if not key.value:
        raise InvalidIdempotencyKey(f"The {header} header is empty.")
    if len(key.value) > max_length:
        raise InvalidIdempotencyKey(
            f"The {header} is {len(key.value)} characters long; at most {max_length} are allowed."
        )
    if not _VISIBLE_ASCII.issuperset(key.value):
        raise InvalidIdempotencyKey(
            f"The {header} may contain only visible ASCII characters (no spaces or control "
            "characters)."
        )
    return key


def _unquote(raw: str, header: str) -> str:
    """The content of an RFC 8941 sf-string, whose only escapes are \\" and \\\\."""
    characters: list[str] = []
    position = 1
    while position < len(raw):
        character = raw[position]
        if character == "\\":
            following = raw[position + 1 : position + 2]
            if following not in ('"', "\\"):
                raise InvalidIdempotencyKey(f'The quoted {header} has an invalid escape "\\".')
            characters.append(following)
            position += 2
        elif character == '"':
            if position != len(raw) - 1:
                raise InvalidIdempotencyKey(
                    f"The quoted {header} has text after its closing quote."
                )
            return "".join(characters)
        else:
            characters.append(character)
            position += 1
    raise InvalidIdempotencyKey(f"The quoted {header} has no closing quote.")
