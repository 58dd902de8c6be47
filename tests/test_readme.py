"""The README's Use example, saved as the file it says and run as it says, answers the curl
commands it shows with the output it shows."""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import unavailable

README = Path(__file__).resolve().parent.parent / "README.md"
SHOWN_PORT = "5000"


@dataclass(frozen=True)
class Exchange:
    command: list[str]
    output: str


def use_section() -> str:
    return README.read_text().split("\n## Use\n", 1)[1].split("\n## ", 1)[0]


def use_example() -> str:
    match = re.search(r"```python\n(.*?)```", use_section(), re.DOTALL)
    assert match is not None, "the Use section has no Python example"
    return match.group(1)


def shown_exchanges() -> list[Exchange]:
    """The ``$ curl ...`` lines of the Use section, each with the output shown under it."""
    exchanges: list[Exchange] = []
    for block in re.findall(r"```console\n(.*?)```", use_section(), re.DOTALL):
        lines = block.splitlines()
        for index, line in enumerate(lines):
            if line.startswith("$ curl "):
                output = []
                for following in lines[index + 1 :]:
                    if following.startswith("$ "):
                        break
                    output.append(following)
                exchanges.append(Exchange(shlex.split(line[2:]), "\n".join(output)))
    return exchanges


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[str]:
    """``flask --app shop run`` in a directory holding only shop.py; yields its base URL."""
    (tmp_path / "shop.py").write_text(use_example())
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "shop", "run", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/charges", timeout=1).close()
            except urllib.error.HTTPError as answer:
                answer.close()
                break  # up: it answered (401 without a token)
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    _, errors = server.communicate(timeout=5)
                    raise AssertionError(f"shop.py did not start: {errors.decode()}") from None
                time.sleep(0.05)
            else:
                break
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr is not None:
            server.stderr.close()


def test_the_readme_shows_a_charge_its_retry_and_the_count() -> None:
    exchanges = shown_exchanges()
    assert len(exchanges) == 3
    assert exchanges[0].command == exchanges[1].command  # the retry is the same request


def test_the_use_example_answers_the_curl_commands_as_shown(shop: str) -> None:
    curl = shutil.which("curl")
    if curl is None:
        unavailable("curl is not installed", required="curl")
    for exchange in shown_exchanges():
        command = [
            argument.replace(f"http://127.0.0.1:{SHOWN_PORT}", shop)
            for argument in exchange.command
        ]
        command[0] = str(curl)
        answer = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
        assert answer.stdout.strip() == exchange.output, " ".join(exchange.command)


def test_the_retry_is_a_replay_and_another_user_is_another_scope(shop: str) -> None:
    def charge(token: str, key: str, amount: int) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(
            f"{shop}/charges",
            data=f'{{"amount": {amount}}}'.encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {token}",
                "Idempotency-Key": key,
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, dict(error.headers), error.read()

    first = charge("alice-token", "k-1", 500)
    retry = charge("alice-token", "k-1", 500)
    bobs = charge("bob-token", "k-1", 500)
    other_amount = charge("alice-token", "k-1", 700)

    assert (first[0], retry[0], bobs[0], other_amount[0]) == (201, 201, 201, 422)
    assert retry[2] == first[2]
    assert retry[1]["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in bobs[1]
    assert bobs[2] != first[2]
