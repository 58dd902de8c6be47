"""Running the store's logic for a page, and showing what it refused.

The store's functions refuse by aborting with the store API's problem+json answer, whose
``message`` is written for people (Medusa's clients show it as it is). A page runs a change,
commits it, or rolls it back and shows that message, with the store's status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import render_template
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from ..extensions import db

Result = TypeVar("Result")


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str


def refusal_of(error: HTTPException) -> Refusal:
    answer = error.response
    if isinstance(answer, Response):
        body = answer.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return Refusal(answer.status_code, body["message"])
        return Refusal(answer.status_code, error.description or "The shop refused that.")
    return Refusal(error.code or 500, error.description or "The shop refused that.")


def committed(change: Callable[[], Result]) -> Result | Refusal:
    """What ``change`` returns, once committed; or, if the store refused it, the refusal, with
    everything it had written rolled back."""
    try:
        result = change()
    except HTTPException as error:
        db.session.rollback()
        return refusal_of(error)
    db.session.commit()
    return result


def refusal_page(refusal: Refusal) -> tuple[str, int]:
    return render_template("refused.html", refusal=refusal), refusal.status
