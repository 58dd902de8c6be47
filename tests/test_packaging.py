"""What a user gets from the package: a wheel built from a clean checkout holds the package and
nothing else, installs into an empty virtualenv with its dependencies, wires up its entry points
there, and type-checks from an editable install, as `make test` makes one."""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "flask_idempotency"

# Bounds on commands that take seconds; reached only by a run that is failing anyway.
PATIENCE = 300

# What pip prints when it cannot reach the package index, as opposed to a package that fails to
# build or a version that does not exist: a connection that failed, or an index that offered no
# version at all of a requirement (setuptools, Flask, ...) that every index has.
UNREACHABLE_INDEX = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name "
    r"resolution|Name or service not known|Network is unreachable|ConnectTimeoutError|"
    r"ReadTimeoutError|Max retries exceeded|\(from versions: none\)",
)


def run(command: Sequence[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    # Without PYTHONPATH, so that nothing but the environment under test supplies imports.
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        check=False,
    )


def run_pip(command: Sequence[str | Path], cwd: Path) -> None:
    done = run(command, cwd)
    output = done.stdout + done.stderr
    if done.returncode != 0 and UNREACHABLE_INDEX.search(output):
        unavailable(
            f"pip cannot reach the package index:\n{output[-2000:]}",
            required="the package index (PyPI) for the packaging tests",
        )
    assert done.returncode == 0, output


def declared_version(checkout: Path) -> str:
    setup = configparser.ConfigParser()
    setup.read(checkout / "setup.cfg")
    return setup["metadata"]["version"]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed repository, cloned: none of a working tree's untracked or unsaved files."""
    clone = tmp_path_factory.mktemp("checkout") / "flask-idempotency"
    done = run(["git", "clone", "--quiet", ROOT, clone], ROOT)
    assert done.returncode == 0, done.stderr
    return clone


@pytest.fixture(scope="module")
def wheel(checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # In pip's isolated build environment, with the build requirements pyproject.toml names.
    run_pip([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", out, checkout], out)
    [built] = out.glob("*.whl")
    return built


def test_the_wheel_holds_the_package_and_its_metadata_only(wheel: Path, checkout: Path) -> None:
    version = declared_version(checkout)
    dist_info = f"{PACKAGE}-{version}.dist-info/"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"{dist_info}METADATA").decode()
        entry_points = archive.read(f"{dist_info}entry_points.txt").decode()

    assert wheel.name == f"{PACKAGE}-{version}-py3-none-any.whl"
    strays = [name for name in names if not name.startswith((f"{PACKAGE}/", dist_info))]
    assert strays == [], "the wheel holds files outside the package"
    tracked = run(["git", "ls-files", f"src/{PACKAGE}"], checkout).stdout.split()
    package_files = sorted(name for name in names if name.startswith(f"{PACKAGE}/"))
    assert package_files == sorted(name.removeprefix("src/") for name in tracked)
    assert f"{PACKAGE}/py.typed" in package_files
    assert "Name: flask-idempotency" in metadata
    assert "idempotency = flask_idempotency.cli:idempotency_cli" in entry_points
    assert "flask_idempotency = flask_idempotency.pytest_plugin" in entry_points


# Run by the installed interpreter from a folder of its own: it prints where the package came
# from and what its entry points resolve to.
INSTALLED_REPORT = textwrap.dedent(
    """
    import importlib.metadata, importlib.util, json, sysconfig
    import click, flask_idempotency

    [command] = importlib.metadata.entry_points(group="flask.commands", name="idempotency")
    [plugin] = importlib.metadata.entry_points(group="pytest11", name="flask_idempotency")
    loaded = command.load()
    print(json.dumps({
        "package": flask_idempotency.__file__,
        "site_packages": sysconfig.get_paths()["purelib"],
        "version": importlib.metadata.version("flask-idempotency"),
        "command": loaded.name if isinstance(loaded, click.Group) else repr(loaded),
        "plugin": plugin.value,
        "plugin_found": importlib.util.find_spec(plugin.value) is not None,
    }))
    """
)


def test_the_wheel_installs_into_an_empty_virtualenv_with_its_entry_points(
    wheel: Path, checkout: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    done = run([sys.executable, "-m", "venv", venv], tmp_path)
    assert done.returncode == 0, done.stderr
    python = venv / "bin" / "python"
    # Its declared dependencies come from the package index.
    run_pip([python, "-m", "pip", "install", "--quiet", wheel], tmp_path)

    done = run([python, "-c", INSTALLED_REPORT], tmp_path)
    assert done.returncode == 0, done.stderr
    installed = json.loads(done.stdout)
    flask_help = run([venv / "bin" / "flask", "idempotency", "--help"], tmp_path)

    package = Path(installed["package"])
    assert package.is_relative_to(installed["site_packages"]), package
    assert not package.is_relative_to(ROOT), package
    assert installed["version"] == declared_version(checkout)
    assert installed["command"] == "idempotency"
    # The pytest plugin needs pytest, which a user's application does not install: it is
    # declared and present, not imported.
    assert installed["plugin"] == "flask_idempotency.pytest_plugin"
    assert installed["plugin_found"]
    assert flask_help.returncode == 0, flask_help.stderr
    assert "purge" in flask_help.stdout


def test_mypy_follows_the_editable_install_into_the_package(tmp_path: Path) -> None:
    """A user's code type-checks against the package that this interpreter has installed
    editable: mypy finds it through the install's path entry, with its types (py.typed)."""
    import flask_idempotency

    assert Path(flask_idempotency.__file__).is_relative_to(ROOT / "src"), "not installed editable"
    (tmp_path / "mypy.ini").write_text("[mypy]\nstrict = True\n")
    (tmp_path / "user.py").write_text(
        textwrap.dedent(
            """
            from flask import Flask
            import flask_idempotency

            app = Flask(__name__)
            extension: flask_idempotency.Idempotency = flask_idempotency.Idempotency(app)
            """
        )
    )
    # A check that passed because the package were Any would pass here too: this must fail.
    (tmp_path / "misuse.py").write_text(
        "import flask_idempotency\n\nnot_a_number: int = flask_idempotency.Idempotency()\n"
    )

    mypy = [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--cache-dir", "cache"]
    done = run([*mypy, "user.py", "misuse.py"], tmp_path)

    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and errors[0].startswith("misuse.py:3: error: Incompatible"), (
        done.stdout + done.stderr
    )
