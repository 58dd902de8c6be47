"""The README's Use example works as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def use_example() -> str:
    section = README.read_text().split("\n## Use\n", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the Use section has no Python example"
    return match.group(1)


def test_the_use_example_charges_an_anonymous_caller_once_and_replays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    # As a module of its own would run it: without this file's `from __future__` imports.
    exec(compile(use_example(), str(README), "exec", dont_inherit=True), namespace)
    app = namespace["create_app"]()  # its SQLite file lands in tmp_path/instance
    client = app.test_client()

    first = client.post("/charges", json={"amount": 5}, headers={"Idempotency-Key": "k"})
    retry = client.post("/charges", json={"amount": 5}, headers={"Idempotency-Key": "k"})

    assert first.status_code == 201
    assert first.json == {"id": 1}
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.data == first.data
