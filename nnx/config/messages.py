"""Validation errors as one line: where (file:line or --set), the key, what is wrong, what to do.

Pydantic reports every problem with a location inside its own schema (union tags, validator
names); `problems` turns them into paths into the user's data, most useful first: unknown keys and
bad choices (with a did-you-mean) before generic messages, the deepest path first.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError
from .yaml_lines import Origins, dotted, quoted


@dataclass
class Problem:
    path: tuple       # into the data, as the user wrote it
    kind: str         # pydantic's error type
    message: str      # what is wrong, without the key: "unknown key (did you mean 'epochs'?)"
    allowed: list     # for an unknown key: the keys allowed beside it
    kind_of: str = "" # for an unknown key in a tagged section: "type logistic", "name digits"


def validate(schema: type[BaseModel], raw: Any, origins: Origins):
    """schema.model_validate(raw), or a ConfigError that names where, the key and what to do."""
    try:
        return schema.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_error(schema, raw, e, origins)) from None
    except RecursionError:  # a pathologically nested value
        raise ConfigError(f"{origins.where(())}the data is nested too deeply to check; simplify it") from None


def format_error(schema: type[BaseModel], raw: Any, error: ValidationError, origins: Origins) -> str:
    first, *others = problems(schema, raw, error)
    named = [f"{dotted(p.path) or '(top level)'}: {p.message}" for p in others[:2]]
    rest = len(others) - len(named)
    more = f"; also {'; '.join(named)}" + (f" and {rest} more" if rest else "") if named else ""
    override = origins.override(first.path, inside=first.kind == "value_error")
    if override is not None:
        return f"{override.shown}{origins.context(first.path)}: {_for_command_line(first)}{more}"
    return f"{origins.file_where(first.path)}{dotted(first.path) or '(top level)'}: {first.message}{more}"


def _for_command_line(p: Problem) -> str:
    """On the command line the key is already in view: name the unknown key and every allowed one."""
    if p.kind != "extra_forbidden":
        return f"{dotted(p.path) or '(top level)'}: {p.message}"
    section = f" in {dotted(p.path[:-1])}" if len(p.path) > 1 else ""
    hint = did_you_mean(str(p.path[-1]), p.allowed)
    of = f" ({p.kind_of})" if p.kind_of else ""
    listing = f"; allowed keys{section}{of}: {', '.join(p.allowed)}" if p.allowed else ""
    return f"unknown key {quoted(p.path[-1])}{section}{hint}{listing}"


_PRIORITY = {"extra_forbidden": 0, "union_tag_invalid": 0, "union_tag_not_found": 0,
             "literal_error": 1, "missing": 2}


def problems(schema: type[BaseModel], raw: Any, error: ValidationError) -> list[Problem]:
    """One Problem per key, the most specific first."""
    errors = error.errors(include_url=False)
    # Prefer the most specific message: unknown keys and bad choices before generic messages,
    # and among those the one deepest in the data (a union's matching member, not its siblings).
    ordered = sorted(errors, key=lambda e: (_PRIORITY.get(e["type"], 5), -len(data_path(raw, e["loc"]))))
    by_path: dict[tuple, dict] = {}
    for e in ordered:
        by_path.setdefault(data_path(raw, e["loc"]), e)
    out = []
    for path, e in by_path.items():
        siblings = [o for o in errors if data_path(raw, o["loc"]) == path]
        if e["type"] == "union_tag_invalid":  # point at the `type:` / `name:` line itself
            path += (e.get("ctx", {}).get("discriminator", "type").strip("'"),)
        allowed, kind_of = allowed_keys(schema, e["loc"][:-1]) if e["type"] == "extra_forbidden" else ([], "")
        out.append(Problem(path, e["type"], describe(e, path, allowed, siblings), allowed, kind_of))
    return out


def data_path(raw: Any, loc: tuple) -> tuple:
    """Pydantic's location, less the union tags it inserts, as a path into the YAML data."""
    path, node = [], raw
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and part in (node.get("type"), node.get("name")):
            continue  # the tag pydantic inserts for a discriminated union
        elif isinstance(part, str) and (part.startswith(("function-", "list[", "dict[", "int", "float", "str"))
                                        or not isinstance(node, (dict, list))):
            continue  # a union member or validator name, not a key
        elif isinstance(node, dict):
            path.append(part)  # a missing key
            node = None
    return tuple(path)


def describe(err: dict, path: tuple, allowed: list, siblings: Iterable[dict] = ()) -> str:
    kind, ctx, value = err["type"], err.get("ctx", {}), err.get("input")
    if kind == "extra_forbidden":
        hint = did_you_mean(str(path[-1]), allowed) if path else ""
        listing = f"; allowed keys here: {', '.join(allowed)}" if allowed and not hint else ""
        return f"unknown key{hint}{listing}"
    if kind == "literal_error":
        options = [o.strip().strip("'\"") for o in ctx.get("expected", "").replace(" or ", ", ").split(",")]
        return f"{value!r} is not one of {', '.join(options)}{did_you_mean(str(value), options)}"
    if kind == "union_tag_invalid":
        options = [o.strip().strip("'\"") for o in ctx.get("expected_tags", "").split(",")]
        tag = ctx.get("tag")
        return f"{tag!r} is not one of {', '.join(options)}{did_you_mean(str(tag), options)}"
    if kind == "union_tag_not_found":
        return f"missing key '{ctx.get('discriminator', 'type').strip(chr(39))}'"
    if kind == "missing":
        return "required key is missing"
    msg = err["msg"].removeprefix("Value error, ")  # a validator's own sentence, without pydantic's label
    msg = msg[0].lower() + msg[1:] if msg else msg
    # A list was expected: here, or by another member of a union when the value is text such as
    # '64,32,16' (not a number that failed its own bound, like seeds: 4294967295).
    list_expected = err["type"] in ("list_type", "tuple_type") or (
        isinstance(value, str) and any(s["type"] in ("list_type", "tuple_type") for s in siblings))
    if list_expected and not isinstance(value, list):
        msg += _list_hint(value)
    if isinstance(value, (dict, list)):
        return msg
    shown = repr(value)
    shown = shown if len(shown) <= 40 else f"{shown[:30]}... ({len(str(value))} characters)"
    return f"{shown} is invalid: {msg}"


def _list_hint(value: Any) -> str:
    """`hidden: 64,32,16` is the string '64,32,16' in YAML: show the list it was meant to be."""
    if isinstance(value, dict) or value is None:
        return "; write a list in brackets, e.g. [64, 32]"
    text = str(value).strip().strip("()[]")
    items = [t.strip() for t in text.replace(";", ",").split(",")] if "," in text else text.split()
    return f"; write a list as [{','.join(items)}]" if text else "; write a list in brackets, e.g. [64, 32]"


def allowed_keys(schema: Any, loc: tuple) -> tuple[list[str], str]:
    """Walk the schema along a pydantic location to the model whose keys are allowed there:
    (its keys, and "type mlp" when it is the member of a tagged union that the tag chose)."""
    cls: Any = schema
    kind_of = ""
    for part in loc:
        cls = unwrap(cls)
        kind_of = ""
        if isinstance(part, int):
            continue
        if isinstance(cls, list):  # a union: the part is the tag naming the member
            cls = next((m for m in cls if part in tags_of(m)), None)
            if cls is None:
                return [], ""
            kind_of = f"{tag_field(cls)} {part}"
            continue
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or part not in cls.model_fields:
            return [], ""
        cls = cls.model_fields[part].annotation
    cls = unwrap(cls)
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        return list(cls.model_fields), kind_of
    return [], ""


def unwrap(annotation: Any) -> Any:
    """Strip Annotated/Optional/list; return a model class, or a list of models for a tagged union."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
            else:
                models = [m for m in (unwrap(a) for a in members) if isinstance(m, type) and issubclass(m, BaseModel)]
                return models if len(models) > 1 else (models[0] if models else annotation)
        elif origin in (list, tuple):
            annotation = typing.get_args(annotation)[0]
        else:
            return annotation


def tag_field(model: type[BaseModel]) -> str | None:
    """The field that tags a member of a union: `type` (models) or `name` (data sets)."""
    for name in ("type", "name"):
        f = model.model_fields.get(name)
        if f is not None and typing.get_origin(f.annotation) is Literal:
            return name
    return None


def tags_of(model: type[BaseModel]) -> tuple[str, ...]:
    """The names a member of a tagged union answers to: the values of its Literal `type` or `name`."""
    tag = tag_field(model)
    return typing.get_args(model.model_fields[tag].annotation) if tag else ()


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """' (did you mean 'relu'?)' for 'rleu' or 'ReLU'; '' when nothing is close."""
    options = [str(o) for o in options]
    same = [o for o in options if o.lower() == word.lower()]
    if same and same[0] != word:
        return f" (did you mean '{same[0]}'?)"
    lowered = {o.lower(): o for o in options}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean '{lowered[close[0]]}'?)" if close and lowered[close[0]] != word else ""
