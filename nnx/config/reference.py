"""The schema as a reference: every key with its type, allowed values, default and description.

Walks the pydantic models themselves (ExperimentFile, RunSpec's sections, and the members of the
`data:` and `model:` unions, one block per data set and per model type), so the reference
cannot drift from what is validated. `nnx config --schema` prints it; docs/experiment-schema.md is
`nnx config --schema --format markdown`, and a test fails when that file is stale.
"""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

import annotated_types as at
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .messages import tag_field, tags_of
from .schema import Distribution, ExperimentFile, RunSpec, SweepSpec

REGENERATE = "nnx config --schema --format markdown > docs/experiment-schema.md"


@dataclass
class Row:
    key: str          # dotted, as --set takes it: training.optimizer.name
    type: str         # number, string, list of integers, mapping, ... ("or null" when it may be null)
    allowed: str      # constraints and choices: ">= 0, < 1", "relu, tanh, ..."
    default: str      # as YAML would write it; "required" when there is none
    description: str


@dataclass
class Block:
    title: str        # "data.name: digits", "training"
    doc: str
    rows: list[Row]


def schema_reference(fmt: str = "text") -> str:
    """The whole reference, as text for a terminal or as the markdown of docs/experiment-schema.md."""
    parts = _parts()
    return _markdown(parts) if fmt == "markdown" else _text(parts)


def _parts() -> list[tuple[str, str, list[Block]]]:
    """(heading, introduction, blocks) for the top level, data, model, training, regularization."""
    top = [f for f in ExperimentFile.model_fields if f != "variants"] + ["variants"]
    parts = [("Top level", "The keys of an experiment file itself.",
              [Block("", "", [_row(ExperimentFile, name, name) for name in top])])]
    for section in ("data", "model"):
        union = RunSpec.model_fields[section].annotation
        members = _union_members(union)
        tag = tag_field(members[0]) if members else "name"
        blocks = []
        for member in members:
            names = tags_of(member)
            blocks.append(Block(f"{section}.{tag}: {' | '.join(names)}", _doc(member),
                                list(_rows(member, section, tag_values={tag: names}))))
        what = "data set" if section == "data" else "model type"
        parts.append((f"{section}:", f"One {what} per run, chosen by `{section}.{tag}`; each {what} takes "
                                     "its own keys, listed in its block below.", blocks))
    for section in ("training", "regularization"):
        cls = _model_of(RunSpec.model_fields[section].annotation)
        parts.append((f"{section}:", _doc(cls), [Block("", "", list(_rows(cls, section)))]))
    key = "sweep.random.space.KEY"
    parts.append(("sweep:", _doc(SweepSpec), [Block("", "", list(_rows(SweepSpec, "sweep"))),
                                             Block(key, _doc(Distribution), list(_rows(Distribution, key)))]))
    return parts


def _rows(cls: type[BaseModel], prefix: str, tag_values: dict | None = None):
    """One row per key of `cls` (its tag first), then the rows of the sections nested in it."""
    for name in sorted(cls.model_fields, key=lambda n: n not in (tag_values or {})):
        if cls.model_fields[name].exclude:
            continue
        row = _row(cls, name, f"{prefix}.{name}")
        if tag_values and name in tag_values:
            row.type, row.allowed, row.default = "string", ", ".join(tag_values[name]), "required"
        yield row
        nested, is_list = _nested_model(cls.model_fields[name].annotation)
        if nested is not None:
            yield from _rows(nested, f"{prefix}.{name}" + ("[]" if is_list else ""))


def _row(cls: type[BaseModel], name: str, key: str) -> Row:
    f = cls.model_fields[name]
    kinds, allowed = _describe(f.annotation, f.metadata)
    return Row(key, kinds, allowed, _default(f), " ".join((f.description or "").split()))


def _default(f: FieldInfo) -> str:
    if f.default_factory is not None:
        value = f.default_factory()
    elif f.default is PydanticUndefined:
        return "required"
    else:
        value = f.default
    if isinstance(value, BaseModel):
        return "(the defaults below)"
    if isinstance(value, tuple):
        value = list(value)
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


def _describe(annotation: Any, metadata=()) -> tuple[str, str]:
    """(type, allowed) of an annotation: 'number', '>= 0, < 1'."""
    members = _members(annotation)
    nullable = any(m is type(None) for m in members)
    members = [m for m in members if m is not type(None)]
    kinds, allowed = [], []
    for member in members:
        if len(members) > 1 and typing.get_origin(member) is Literal:  # `float | Literal["auto"]`
            kinds += [f'"{v}"' for v in typing.get_args(member)]
            continue
        kind, rule = _one(member)
        kinds.append(kind)
        if rule:
            allowed.append(rule if len(members) == 1 else f"{kind}: {rule}")
    lists = any(typing.get_origin(_bare(m)) in (list, tuple) for m in members)
    own = _constraints(metadata, "items" if lists else "characters")
    if own:
        allowed.insert(0, own)
    if nullable:
        kinds.append("null")
    return " or ".join(dict.fromkeys(kinds)), "; ".join(allowed)


def _members(annotation: Any) -> list:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _members(a)]
    return [annotation]


def _one(annotation: Any) -> tuple[str, str]:
    """(type, allowed) of one member of a union."""
    metadata = []
    while typing.get_origin(annotation) is Annotated:
        annotation, *extra = typing.get_args(annotation)
        metadata += extra
    origin = typing.get_origin(annotation)
    rule = _constraints(metadata, "items" if origin in (list, tuple) else "characters")
    if origin is Literal:
        values = typing.get_args(annotation)
        kind = "string" if all(isinstance(v, str) for v in values) else "value"
        return kind, ", ".join(str(v) for v in values)
    if origin in (Union, types.UnionType):
        return _describe(annotation, metadata)
    if origin is list:
        item, item_rule = _one(typing.get_args(annotation)[0])
        rules = ", ".join(r for r in (rule, item_rule and f"each {item_rule}") if r)
        return f"list of {_plural(item)}", rules
    if origin is tuple:
        args = typing.get_args(annotation)
        item, item_rule = _one(args[0])
        return f"list of {len(args)} {_plural(item)}", item_rule and f"each {item_rule}"
    if origin is dict:
        return "mapping", rule
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping", rule
    names = {bool: "boolean", int: "integer", float: "number", str: "string"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation))), rule


def _plural(kind: str) -> str:
    return {"mapping": "mappings", "integer": "integers", "number": "numbers", "string": "strings",
            "boolean": "booleans"}.get(kind, kind)


def _bare(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _constraints(metadata, unit: str = "characters") -> str:
    """'>= 0, < 1', '1 to 100 characters', 'at least 1 items' of pydantic's constraint metadata."""
    metadata = [n for m in metadata for n in (m.metadata if isinstance(m, FieldInfo) else [m])]
    low = next((m.min_length for m in metadata if isinstance(m, at.MinLen)), None)
    high = next((m.max_length for m in metadata if isinstance(m, at.MaxLen)), None)
    out = []
    if low is not None and high is not None:
        out.append(f"{low} to {high} {unit}")
    elif low is not None:
        out.append(f"at least {low} {unit if low != 1 else unit.removesuffix('s')}")
    elif high is not None:
        out.append(f"at most {high} {unit}")
    for m in metadata:
        if isinstance(m, at.Ge):
            out.append(f">= {m.ge}")
        elif isinstance(m, at.Gt):
            out.append(f"> {m.gt}")
        elif isinstance(m, at.Le):
            out.append(f"<= {m.le}")
        elif isinstance(m, at.Lt):
            out.append(f"< {m.lt}")
    return ", ".join(out)


def _nested_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The section model a field holds (optionally, or as a list of them), for its nested rows."""
    for member in map(_bare, _members(annotation)):
        if typing.get_origin(member) is list:
            item = typing.get_args(member)[0]
            if isinstance(item, type) and issubclass(item, BaseModel):
                return item, True
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member, False
    return None, False


def _union_members(annotation: Any) -> list[type[BaseModel]]:
    out = []
    for member in map(_bare, _members(_bare(annotation))):
        if isinstance(member, type) and issubclass(member, BaseModel):
            out.append(member)
    return out


def _model_of(annotation: Any) -> type[BaseModel]:
    model, _ = _nested_model(annotation)
    return model


def _doc(cls: type) -> str:
    return " ".join((inspect.getdoc(cls) or "").split())


# --------------------------------------------------------------------------------------------
# Rendering


def _markdown(parts) -> str:
    out = ["# Experiment schema", "",
           "Every key an experiment file can hold: its type, the values it allows, its default and what it",
           "does. A key that is not listed here is an error; `--set KEY=VALUE` takes the same keys (see",
           "[the README's \"Experiment files\"](../README.md#experiment-files) for how overrides merge).",
           "`nnx config EXPERIMENT.yaml` prints an experiment's runs with every default filled in.", "",
           "This file is generated from the schema itself; do not edit it, regenerate it:", "",
           "```bash", REGENERATE, "```", ""]
    for heading, intro, blocks in parts:
        out += [f"## {_code(heading) if heading.endswith(':') else heading}", "", intro, ""]
        for block in blocks:
            if block.title:
                out += [f"### {_code(block.title)}", ""]
                if block.doc:
                    out += [block.doc, ""]
            out += ["| key | type | allowed | default | description |", "| --- | --- | --- | --- | --- |"]
            out += [f"| {_code(r.key)} | {_cell(r.type)} | {_cell(r.allowed)} | {_default_cell(r.default)} "
                    f"| {_cell(r.description)} |" for r in block.rows]
            out.append("")
    return "\n".join(out)


def _default_cell(default: str) -> str:
    return "*required*" if default == "required" else _code(default)


def _code(text: str) -> str:
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _text(parts) -> str:
    out = ["Every key of an experiment file (markdown: nnx config --schema --format markdown).", ""]
    for heading, intro, blocks in parts:
        out += [heading.upper() if not heading.endswith(":") else heading, f"  {intro}", ""]
        for block in blocks:
            if block.title:
                out += [f"  {block.title}"]
                if block.doc:
                    out += [f"    {block.doc}"]
            for r in block.rows:
                shape = r.type + (f" ({r.allowed})" if r.allowed else "")
                default = "required" if r.default == "required" else f"default {r.default}"
                out.append(f"    {r.key}: {shape}; {default}")
                if r.description:
                    out.append(f"        {r.description}")
            out.append("")
    return "\n".join(out)
