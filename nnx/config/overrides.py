"""`--set KEY=VALUE`: command-line overrides, applied like the file and validated with it.

The rules (also in README.md's "Experiment files" and `nnx train --help`):

- KEY is a dotted path (`training.optimizer.learning_rate`), VALUE is YAML (`0.01`, `[64, 32]`,
  `{name: adam}`, `null`). Every key is checked by the schema: an unknown one is an error with a
  did-you-mean, pointing at the `--set`.
- `KEY=MAPPING` merges into the section key by key, as a variant does: `training.optimizer=adam`
  (short for `{name: adam}`) keeps the file's learning rate and schedule. `KEY:=VALUE` replaces
  the section whole. Any other value (a number, a list, `null`) replaces what was there.
- Setting `model.type` or `data.name` to another type or data set starts that section afresh,
  as a variant does: the old type's keys would not apply to the new one.
- `variants.NAME.KEY=VALUE` changes variant NAME of the file; it never adds a variant.
- Overrides apply in order, after the variants: `--set training.epochs=1` wins over every
  variant's epochs.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import ConfigError
from .messages import did_you_mean
from .schema import SECTIONS, TAGS, expand_shorthands
from .yaml_lines import Claims, dotted, key_text, quoted


@dataclass(frozen=True)
class Override:
    text: str          # as the user typed it, for messages
    keys: tuple        # the dotted key, split
    value: Any         # the value, parsed as YAML
    replace: bool      # `KEY:=VALUE`: replace a section instead of merging into it
    option: str = "--set"  # where it came from, for messages: "--set", "--sweep", "FILE:LINE: sweep"

    @property
    def shown(self) -> str:
        return f"{self.option} {self.text}"


def parse_override(text: str) -> Override:
    shown = " ".join(text.split()) if len(text) <= 120 else f"{' '.join(text[:100].split())}..."
    shown = shown if shown.isprintable() else repr(shown)
    if "=" not in text:
        raise ConfigError(f"--set {shown}: expected KEY.PATH=VALUE, e.g. --set training.epochs=5")
    key, _, value = text.partition("=")
    replace = key.endswith(":")
    key = key[:-1] if replace else key
    keys = tuple(k.strip() for k in key.strip().split("."))
    if not all(keys):
        raise ConfigError(f"--set {shown}: empty key in {key_text(key)}; use dotted keys like training.epochs")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as e:
        if value.strip()[:1] in "[{\"'":
            problem = getattr(e, "problem", None) or "it does not parse"
            raise ConfigError(f"--set {shown}: the value is not valid YAML ({problem}); close its brackets "
                              "and quotes, or quote the whole value") from None
        parsed = value  # plain text with YAML's special characters (`a: b`, `#1`): keep it as text
    except RecursionError:
        raise ConfigError(f"--set {shown}: the value is nested too deeply") from None
    return Override(shown, keys, parsed, replace)


def parse_overrides(texts: Iterable[str]) -> list[Override]:
    return [parse_override(t) for t in texts]


def check_variants_exist(overrides: list[Override], variants: Any, source: str) -> None:
    """`--set variants.NAME...` changes a variant of the file; it never adds one."""
    existing = list(variants) if isinstance(variants, dict) else []
    listing = (f"the variants are {', '.join(key_text(v) for v in existing)}" if existing
               else f"{source} has no variants")
    for o in overrides:
        if o.keys[0] != "variants":
            continue
        if len(o.keys) == 1:
            new = [k for k in o.value if k not in existing] if isinstance(o.value, dict) and not o.replace else []
            if new:
                raise ConfigError(f"--set {o.text}: no variant {quoted(new[0])}; {listing}"
                                  f"{did_you_mean(str(new[0]), existing)}; add a variant in the file "
                                  "(or replace them all with variants:=...)")
        elif o.keys[1] not in existing:
            raise ConfigError(f"--set {o.text}: no variant {quoted(o.keys[1])}; {listing}"
                              f"{did_you_mean(str(o.keys[1]), existing)}; --set changes variants, "
                              "it does not add one (add it to the file)")


def apply(data: dict, override: Override, claims: Claims) -> None:
    """Write one override into `data`, merging mappings, and record which paths it wrote."""
    keys = override.keys
    node, created = data, None
    for i, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
            created = created or keys[:i + 1]  # a section this override made: all of it is its own
        elif not isinstance(child, dict):
            section = dotted(keys[:i + 1])
            kind = "a list" if isinstance(child, list) else f"the value {_short(child)}"
            raise ConfigError(f"{override.shown}: {section} is {kind}, not a section with keys; "
                              f"set it whole: --set {section}=VALUE")
        node = child
    value = expand_shorthands(copy.deepcopy(override.value), keys)
    old = node.get(keys[-1])
    if not override.replace and isinstance(value, dict) and isinstance(old, dict):
        _merge_claiming(old, value, keys, override, claims)
    else:
        node[keys[-1]] = value
        _claim(claims, keys, override, value)
    if created:
        _claim(claims, created, override, _at(data, created))


def _merge_claiming(base: dict, value: dict, path: tuple, override: Override, claims: Claims) -> None:
    """deep_merge, claiming for `override` each key it writes (a key it adds: all below it)."""
    for key, item in value.items():
        old = base.get(key)
        if isinstance(item, dict) and isinstance(old, dict):
            _merge_claiming(old, item, path + (key,), override, claims)
        else:
            base[key] = item
            _claim(claims, path + (key,), override, item)


def _claim(claims: Claims, path: tuple, override: Override, value: Any) -> None:
    """Claim `path` for `override`; `variants` and a variant are claimed section by section, since
    each variant's run also holds the base's sections (which the override did not write)."""
    if path[:1] == ("variants",) and len(path) < 3 and isinstance(value, dict):
        for key, item in value.items():
            _claim(claims, path + (key,), override, item)
    else:
        claims.claim(path, override)


def _at(data: dict, path: tuple) -> Any:
    for key in path:
        data = data[key]
    return data


def apply_all(data: dict, overrides: list[Override], claims: Claims) -> None:
    """Apply overrides in order, after restarting the tagged sections whose kind they change."""
    _restart_changed_kinds(data, overrides, claims)
    for o in overrides:
        apply(data, o, claims)


def _restart_changed_kinds(data: dict, overrides: list[Override], claims: Claims) -> None:
    """`model.type` (or `data.name`, also a variant's) set to another kind starts that section
    afresh, as a variant does: the old kind's keys would not apply to the new one."""
    sections = {o.keys[:i + 1] for o in overrides for i, k in enumerate(o.keys)
                if k in TAGS and (i == 0 or (i == 2 and o.keys[0] == "variants"))}
    for path in sorted(sections, key=len):
        tag = TAGS[path[-1]]
        changer, new = None, None
        for o in overrides:
            if o.keys == path + (tag,):
                changer, new = o, o.value
            elif o.keys == path and isinstance(o.value, dict) and tag in o.value:
                changer, new = o, o.value[tag]
        node = data
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        old = node.get(path[-1]) if isinstance(node, dict) else None
        if changer is not None and isinstance(old, dict) and new != old.get(tag):
            node[path[-1]] = {}
            claims.claim(path, changer)


def split(overrides: list[Override]) -> tuple[list[Override], list[Override]]:
    """(the overrides of a run's sections, the others: top-level keys and variants)."""
    sections = [o for o in overrides if o.keys[0] in SECTIONS]
    return sections, [o for o in overrides if o.keys[0] not in SECTIONS]


def deep_merge(base: dict, override: dict) -> dict:
    """Merge `override` into `base`: mappings merge key by key, anything else replaces."""
    for key, value in override.items():
        old = base.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            deep_merge(old, value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 30 else text[:27] + "..."
