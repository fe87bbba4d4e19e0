"""YAML with line numbers, and where a key came from: a line of the file or a `--set` override.

`read_yaml` loads a file with the safe loader and remembers the line of every key and list item.
A `Origins` object answers, for a path into the data being validated, where to point the user:
`x.yaml:12: ` or `--set training.epochs=0: `.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from ..errors import ConfigError


def read_yaml(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
    """The data of a YAML text and {path: line} for every key and list item in it."""
    if "\x00" in text:
        raise ConfigError(f"{source}: not a text file (it holds NUL bytes); give a YAML experiment file")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        # An unclosed bracket or quote is noticed lines later: name the line where it was opened.
        opened = getattr(e, "context_mark", None)
        started = (f" ({e.context} on line {opened.line + 1})"
                   if opened and mark and opened.line != mark.line and getattr(e, "context", None) else "")
        raise ConfigError(f"{where}: malformed YAML: {problem}{started}; check the indentation, "
                          "colons and brackets there") from None
    except RecursionError:
        raise ConfigError(f"{source}: the YAML is nested too deeply to read; flatten it") from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _record_lines(node, (), lines, source)
    return data, lines


def _record_lines(node: yaml.Node, path: tuple, lines: dict[tuple, int], source: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise ConfigError(f"{source}:{key_node.start_mark.line + 1}: duplicate key {key!r}; "
                                  "keep only one of them")
            seen.add(key)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _record_lines(value_node, path + (key,), lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[path + (i,)] = item.start_mark.line + 1
            _record_lines(item, path + (i,), lines, source)


def key_text(key: Any) -> str:
    """A key as it is shown in a message: bare when plain, quoted when it holds odd characters."""
    text = str(key)
    return text if text.isprintable() and text.strip() == text and text else repr(text)


def quoted(key: Any) -> str:
    """'key' in quotes for a message (a key with odd characters keeps its escapes)."""
    text = key_text(key)
    return f"'{text}'" if text == str(key) else text


def dotted(path) -> str:
    return ".".join(key_text(p) for p in path)


class Claims:
    """Which `--set` override wrote which path: {path: override}; the last writer wins.

    A mapping merged into a section claims only the keys it writes; a replaced section (`:=`, a
    scalar, or a model type that changed) is claimed whole."""

    def __init__(self):
        self.paths: dict[tuple, Any] = {}

    def claim(self, path: tuple, override) -> None:
        path = tuple(path)
        for other in [p for p in self.paths if p[:len(path)] == path]:
            del self.paths[other]  # written over
        self.paths[path] = override

    def owner(self, path: tuple, inside: bool = False):
        """The override that wrote `path` (or the section holding it); with `inside`, else the last
        one that wrote inside it (a section-wide check that failed after an override changed one of
        its keys)."""
        path = tuple(path)
        for n in range(len(path), -1, -1):
            if path[:n] in self.paths:
                return self.paths[path[:n]]
        within = [o for p, o in self.paths.items() if p[:len(path)] == path] if inside else []
        return within[-1] if within else None

    def under(self, prefix: tuple) -> Claims:
        """The claims below `prefix`, with the prefix taken off (a variant's keys, seen from its run)."""
        sub = Claims()
        sub.paths = {p[len(prefix):]: o for p, o in self.paths.items() if p[:len(prefix)] == prefix}
        return sub


class Origins:
    """Where each path of the data being validated came from: `--set` claims first, then the file."""

    def __init__(self, source: str, lines: Mapping[tuple, int], *claims: Claims, variant: str | None = None,
                 variant_sections=()):
        # A `--set` that fails in a section which one variant (of several) changes is named with it.
        self.source, self.lines, self.claims = source, lines, claims
        self.variant, self.variant_sections = variant, set(variant_sections)

    def context(self, path: tuple) -> str:
        """' (variant ridge)' when the problem at `path` is in a section that variant changes."""
        if self.variant is None or not path or path[0] not in self.variant_sections:
            return ""
        return f" (variant {key_text(self.variant)})"

    def override(self, path: tuple, inside: bool = False):
        """The `--set` override that wrote `path`, or None when it comes from the file."""
        for claims in self.claims:
            owner = claims.owner(path)
            if owner is not None:
                return owner
        for claims in self.claims if inside else ():
            owner = claims.owner(path, inside=True)
            if owner is not None:
                return owner
        return None

    def where(self, path: tuple, inside: bool = False) -> str:
        """'--set KEY=VALUE: ' or 'FILE:LINE: ' (the nearest enclosing key that has a line)."""
        override = self.override(path, inside)
        if override is not None:
            return f"{override.shown}{self.context(path)}: "
        return self.file_where(path)

    def file_where(self, path: tuple) -> str:
        path = tuple(path)
        while path:
            line = self.lines.get(path)
            if line is not None:
                return f"{self.source}:{line}: "
            path = path[:-1]
        return f"{self.source}: "


class VariantLines(Mapping):
    """Line lookup for a merged variant: the variant's own line if it set the key, else the base's."""

    def __init__(self, lines: Mapping[tuple, int], variant: str):
        self.lines, self.variant = lines, variant

    def __getitem__(self, path: tuple) -> int:
        own = ("variants", self.variant) + tuple(path)
        if own in self.lines:
            return self.lines[own]
        return self.lines[tuple(path)]

    def __iter__(self):
        return iter(self.lines)

    def __len__(self):
        return len(self.lines)
