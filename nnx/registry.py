"""Families that register themselves: a data set or a model family is declared once, in its module.

A family module calls `REGISTRY.register(Family(...))` at import. The registry finds its
families by importing every module of its package once, so adding a family is adding a module:
the YAML schema (a pydantic union tagged by `name:` or `type:`), the command-line listings and
the docs are all derived from the declarations.
"""

from __future__ import annotations

import importlib
import pkgutil
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import Field


def literal_names(spec: type, tag: str) -> tuple[str, ...]:
    """The values of a spec's `Literal` tag field (`name` for data, `type` for models)."""
    annotation = spec.model_fields[tag].annotation
    if typing.get_origin(annotation) is not Literal:
        raise TypeError(f"{spec.__name__}.{tag} must be a Literal of the names it serves")
    return typing.get_args(annotation)


class Registry:
    def __init__(self, package: str, tag: str, what: str):
        self.package, self.tag, self.what = package, tag, what
        self._families: dict[str, Any] = {}
        self._discovered = False

    def register(self, family):
        for name in literal_names(family.spec, self.tag):
            if name in self._families and self._families[name] is not family:
                raise ValueError(f"{self.what} {name!r} is registered twice")
            self._families[name] = family
        return family

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        root = importlib.import_module(self.package)
        for info in pkgutil.walk_packages(root.__path__, prefix=self.package + "."):
            importlib.import_module(info.name)

    def get(self, name: str):
        self._discover()
        return self._families[name]

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._families)

    def families(self) -> list:
        """Each family once, in the order of its first name."""
        self._discover()
        return list(dict.fromkeys(self._families[n] for n in sorted(self._families)))

    def union(self):
        """The YAML section's schema: one spec per family, chosen by the tag."""
        specs = tuple(dict.fromkeys(f.spec for f in self.families()))
        return Annotated[Union[specs], Field(discriminator=self.tag)]  # noqa: UP007 (a runtime tuple)
