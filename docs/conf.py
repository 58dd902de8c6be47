"""Sphinx configuration of flask-idempotency's documentation.

Built offline with every warning an error (``make docs``): no intersphinx, nothing fetched.
"""

from __future__ import annotations

from importlib.metadata import version as installed_version
from pathlib import PurePath

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

import flask_idempotency

project = "flask-idempotency"
author = "flask-idempotency contributors"
copyright = "2026, flask-idempotency contributors"
release = installed_version("flask-idempotency")
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
# bench.md, a generated table without a title, is shown inside performance.md.
exclude_patterns = ["_build", "bench.md"]

# Markdown pages link to sections by the anchors GitHub would give them, as the README does.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autoclass_content = "both"

html_theme = "furo"
html_title = f"flask-idempotency {release}"
html_static_path: list[str] = []
html_show_sourcelink = False


# Pages here that link to the README (outside this tree, as scaling.md does) reach it on GitHub.
README_URL = "https://github.com/flask-idempotency/flask-idempotency/blob/main/README.md"


def _link_readme_on_github(app: Sphinx, doctree: nodes.document) -> None:
    for xref in list(doctree.findall(addnodes.pending_xref)):
        target = str(xref.get("reftarget", ""))
        if xref.get("reftype") != "myst" or PurePath(target).name != "README":
            continue
        anchor = xref.get("reftargetid")
        link = nodes.reference(
            "", "", *xref.children, refuri=README_URL + (f"#{anchor}" if anchor else "")
        )
        xref.replace_self(link)


# A problem's type URI is IDEMPOTENCY_PROBLEM_BASE_URL (by default this site's problems.html#)
# followed by its name: every name must be the anchor of a section of problems.md.
PROBLEMS_PAGE = "problems"
logger = logging.getLogger(__name__)


def problem_names() -> set[str]:
    pending = [flask_idempotency.IdempotencyError]
    names = set()
    while pending:
        error = pending.pop()
        pending.extend(error.__subclasses__())
        if error.problem_name is not None:
            names.add(error.problem_name)
    return names


def _check_problem_anchors(app: Sphinx, env: BuildEnvironment) -> None:
    labels = env.domaindata["std"]["labels"]
    for name in sorted(problem_names()):
        page, anchor, _title = labels.get(name, (None, None, None))
        if page != PROBLEMS_PAGE or anchor != name:
            logger.warning(
                "problem type %r has no section with that anchor in %s.md; its type URI leads "
                "nowhere. Add a section labelled (%s)=",
                name,
                PROBLEMS_PAGE,
                name,
                type="flask_idempotency",
                subtype="problem_anchor",
            )


def setup(app: Sphinx) -> None:
    app.connect("doctree-read", _link_readme_on_github)
    app.connect("env-check-consistency", _check_problem_anchors)
