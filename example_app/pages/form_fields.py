"""Form fields read into what the store's validators take, so that a form is checked by the
same rules, with the same messages, as the store API's JSON."""

from __future__ import annotations

from flask import request


def form_text(name: str) -> str:
    return request.form.get(name, "").strip()


def form_number(name: str) -> int | str:
    """The field as an integer when it is written as one; otherwise as it was sent, which the
    store's ``integer()`` refuses with its message."""
    text = form_text(name)
    digits = text.removeprefix("-")
    if digits.isascii() and digits.isdigit() and len(digits) <= 10:
        return int(text)
    return text
