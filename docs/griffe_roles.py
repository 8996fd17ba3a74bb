"""A Griffe extension for the API pages: Sphinx roles in docstrings become inline code.

privsynth's docstrings name other objects the Sphinx way (``:func:`privsynth.device.resolve```,
``:class:`Policy```, ``:mod:`privsynth.io```). mkdocstrings reads docstrings as Markdown, where
the role would show as literal ``:func:`` text; this turns each into ``` `name` ``` (a leading
``~`` or ``!`` is dropped, as Sphinx does). mkdocs loads it through mkdocs.yml
(``plugins.mkdocstrings.handlers.python.options.extensions``); it changes nothing in the sources.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|attr|obj|data|exc|const|ref):`[~!]?([^`]+)`")


def plain(text: str) -> str:
    """TEXT with every Sphinx cross-reference role replaced by inline code of its target."""
    return ROLE.sub(lambda m: f"`{m.group(1)}`", text)


class SphinxRolesAsCode(griffe.Extension):
    """Rewrites each object's docstring once, as Griffe loads it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain(obj.docstring.value)
