"""The experiment schema: YAML in, validated runs out.

An experiment file is read once (safe loader, with the line of every key remembered), `--set`
overrides are applied, every variant is merged over the base and validated, and the result is one
`RunSpec` per variant and seed. Nothing here imports JAX, so a bad file fails in milliseconds.
"""

from __future__ import annotations

import copy
import difflib
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from .data.specs import DataSpec
from .errors import ConfigError
from .models.specs import ModelSpec
from .spec import Strict
from .train.augment import AugmentationSpec

# --------------------------------------------------------------------------------------------
# Schema


class ScheduleSpec(Strict):
    """A learning-rate schedule from Optax, in epochs (converted to steps at build time)."""

    name: Literal["constant", "step", "exponential", "cosine", "warmup_cosine"] = "constant"
    decay_rate: float = Field(0.1, gt=0, le=1, description="step/exponential: factor per decay_epochs")
    decay_epochs: float = Field(10, gt=0, description="step/exponential: epochs per decay")
    warmup_epochs: float = Field(0, ge=0, description="warmup_cosine: linear warm-up length")
    end_factor: float = Field(0.0, ge=0, le=1, description="cosine: final rate as a fraction of the peak")


class OptimizerSpec(Strict):
    name: Literal["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw", "nadam", "adagrad"] = "rmsprop"
    learning_rate: float = Field(1e-3, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1, description="momentum and nesterov")
    decay: float = Field(0.9, gt=0, lt=1, description="rmsprop: discount of the squared-gradient average")
    b1: float = Field(0.9, ge=0, lt=1)
    b2: float = Field(0.999, ge=0, lt=1)
    eps: float | None = Field(None, gt=0, description="default: Optax's for the optimizer")
    clip_norm: float | None = Field(None, gt=0, description="clip gradients to this global norm")
    schedule: ScheduleSpec = ScheduleSpec()


class EarlyStoppingSpec(Strict):
    monitor: str = "validation.loss"
    mode: Literal["min", "max", "auto"] = "auto"
    patience: int = Field(5, ge=1)
    min_delta: float = Field(0.0, ge=0)
    restore_best: bool = True


class TrainingSpec(Strict):
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=1)
    eval_batch_size: int = Field(2048, ge=1)
    optimizer: OptimizerSpec = OptimizerSpec()
    early_stopping: EarlyStoppingSpec | None = None
    parallel_seeds: bool = Field(False, description="train all seeds of a variant at once (vmap)")
    loss: Literal["cross_entropy", "squared_error", "absolute_error"] | None = Field(
        None, description="the training loss; default: cross-entropy for classes, squared error for regression")

    @model_validator(mode="after")
    def _parallel_seeds_alone(self):
        if self.parallel_seeds and self.early_stopping is not None:
            raise ValueError("parallel_seeds cannot be combined with early_stopping (each seed would stop "
                             "at its own epoch); remove one of them")
        return self
    augmentation: AugmentationSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _optimizer_by_name(cls, data: Any) -> Any:
        # `optimizer: adam` is shorthand for `optimizer: {name: adam}`.
        if isinstance(data, dict) and isinstance(data.get("optimizer"), str):
            data = {**data, "optimizer": {"name": data["optimizer"]}}
        return data


class RegularizationSpec(Strict):
    l2: float = Field(0.0, ge=0, description="ridge: adds l2 * sum of squared weights (not biases) to the loss")
    l1: float = Field(0.0, ge=0, description="lasso: adds l1 * sum of absolute weights (not biases)")
    weight_decay: float = Field(0.0, ge=0, description="decoupled weight decay (Optax), scaled by the learning rate")


# Seeds feed numpy and JAX key derivation (32-bit); names become folder names (255 bytes at most).
MAX_SEED, MAX_NAME = 2**32 - 1, 100
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]


class RunSpec(Strict):
    """Everything one run needs: the resolved config saved into its folder."""

    experiment: Name
    variant: Name = "default"
    seed: Seed = 0
    data: DataSpec
    model: ModelSpec
    training: TrainingSpec = TrainingSpec()
    regularization: RegularizationSpec = RegularizationSpec()

    @property
    def run_name(self) -> str:
        return self.variant if self.seeds_in_name is None else f"{self.variant}-seed{self.seed}"

    # Set by `expand` when an experiment has several seeds; not part of the saved config.
    seeds_in_name: Annotated[int | None, Field(exclude=True)] = None


class ExperimentFile(Strict):
    """The top level of an experiment file."""

    name: Name | None = None
    description: str = ""
    seed: Seed = 0
    seeds: Annotated[int, Field(ge=1)] | list[Seed] = 1
    data: dict[str, Any]
    model: dict[str, Any]
    training: dict[str, Any] = {}
    regularization: dict[str, Any] = {}
    variants: dict[str, dict[str, Any] | None] = {}


# --------------------------------------------------------------------------------------------
# Loading


@dataclass
class Experiment:
    """A validated experiment: its name, its source, and one RunSpec per variant and seed."""

    name: str
    path: Path | None
    runs: list[RunSpec]
    description: str = ""
    variants: list[str] = field(default_factory=list)


def load_experiment(
    path: str | Path,
    overrides: Iterable[str] = (),
    seed: int | None = None,
    only: Iterable[str] = (),
) -> Experiment:
    """Read, validate and expand an experiment file. Raises ConfigError with file:line."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such file; give the path of an experiment YAML file")
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not an experiment file; give the path of a .yaml file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (is it binary?); give a YAML experiment file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it ({e.strerror})") from None
    return parse_experiment(text, source=str(path), default_name=path.stem, overrides=overrides,
                            seed=seed, only=only, path=path)


def parse_experiment(
    text: str,
    source: str = "<string>",
    default_name: str = "experiment",
    overrides: Iterable[str] = (),
    seed: int | None = None,
    only: Iterable[str] = (),
    path: Path | None = None,
) -> Experiment:
    raw, lines = _read_yaml(text, source)
    if raw is None:
        raise ConfigError(f"{source}: the file is empty; an experiment needs at least `data:` and `model:`")
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}:1: the top level must be a mapping of keys (data:, model:, ...), "
                          f"not a {type(raw).__name__}")
    texts = list(overrides)
    overrides = [_parse_override(o) for o in texts]
    for keys, value in overrides:
        if keys[0] in ("name", "seed", "seeds", "description") or keys[0] == "variants":
            _set_path(raw, keys, value, source)
    from_command_line = {tuple(keys): text.strip() for (keys, _), text in zip(overrides, texts)}

    file = _validate(ExperimentFile, raw, source, _OverrideLines(lines, from_command_line), ())
    name = file.name or default_name
    seeds = list(range(file.seed, file.seed + file.seeds)) if isinstance(file.seeds, int) else file.seeds
    if seed is not None:
        seeds = [seed + s - seeds[0] for s in seeds]
        if not all(0 <= s <= MAX_SEED for s in seeds):
            span = f" (with `seeds` this gives {seeds[0]}..{seeds[-1]})" if len(seeds) > 1 else ""
            raise ConfigError(f"--seed {seed}: seeds are integers from 0 to {MAX_SEED}{span}")
    variants = list(file.variants) or ["default"]
    only = list(only)
    for name_ in only:
        if name_ not in variants:
            raise ConfigError(f"--only {name_}: no such variant; the variants are {', '.join(variants)}"
                              + _did_you_mean(name_, variants))
    base = {k: raw[k] for k in ("data", "model", "training", "regularization") if k in raw}

    runs = []
    for variant in variants:
        if only and variant not in only:
            continue
        merged = copy.deepcopy(base)
        override = file.variants.get(variant) or {}
        allowed = ["data", "model", "training", "regularization"]
        if len(variant) > MAX_NAME:
            raise ConfigError(_where(source, lines, ("variants", variant))
                              + f"variants.{_key_text(variant[:20])}...: a name of {len(variant)} characters; use at most {MAX_NAME}")
        for key in sorted(set(override) - set(allowed)):
            raise ConfigError(_where(source, lines, ("variants", variant, key))
                              + f"variants.{_key_text(variant)}.{_key_text(key)}: unknown key; a variant overrides "
                              + ", ".join(allowed) + _did_you_mean(key, allowed))
        for section, tag in (("model", "type"), ("data", "name")):
            # A variant that changes the model type or the data set replaces that section whole:
            # the other keys of the old kind would not apply to the new one.
            new, old = override.get(section), merged.get(section)
            if isinstance(new, dict) and isinstance(old, dict) and new.get(tag, old.get(tag)) != old.get(tag):
                merged[section] = {}
        _deep_merge(merged, override)
        for keys, value in overrides:
            if keys[0] in ("data", "model", "training", "regularization"):
                _set_path(merged, keys, value, source)
        merged.update(experiment=name, variant=variant, seed=seeds[0])
        variant_lines = _OverrideLines(_VariantLines(lines, variant), from_command_line)
        spec = _validate(RunSpec, merged, source, variant_lines, ())
        for s in seeds:
            runs.append(spec.model_copy(update={"seed": s, "seeds_in_name": len(seeds) if len(seeds) > 1 else None}))
    return Experiment(name=name, path=path, runs=runs, description=file.description,
                      variants=[v for v in variants if not only or v in only])


def load_run_config(path: str | Path) -> RunSpec:
    """Read back a run folder's resolved config.yaml."""
    path = Path(path)
    raw, lines = _read_yaml(path.read_text(encoding="utf-8"), str(path))
    return _validate(RunSpec, raw, str(path), lines, ())


def apply_overrides(spec: RunSpec, overrides: Iterable[str]) -> RunSpec:
    """A RunSpec with `--set KEY=VALUE` overrides applied, validated."""
    overrides = list(overrides)
    if not overrides:
        return spec
    raw = spec.model_dump(mode="json")
    for keys, value in (_parse_override(o) for o in overrides):
        _set_path(raw, keys, value, "the run's config")
    return _validate(RunSpec, raw, "--set", {}, ()).model_copy(update={"seeds_in_name": spec.seeds_in_name})


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists stay values."""
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def dump_run_config(spec: RunSpec) -> str:
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)


# --------------------------------------------------------------------------------------------
# YAML with line numbers


def _read_yaml(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
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


class _VariantLines(Mapping):
    """Line lookup for a merged variant: the variant's own line if it set the key, else the base's."""

    def __init__(self, lines: dict[tuple, int], variant: str):
        self.lines, self.variant = lines, variant

    def __getitem__(self, path: tuple) -> int:
        own = ("variants", self.variant) + tuple(path)
        if own in self.lines:
            return self.lines[own]
        return self.lines[path]

    def __iter__(self):
        return iter(self.lines)

    def __len__(self):
        return len(self.lines)


class _OverrideLines(Mapping):
    """Line lookup that knows which keys came from the command line (`--set`), not the file."""

    def __init__(self, lines: Mapping, overrides: dict[tuple, str]):
        self.lines, self.overrides = lines, overrides

    def __getitem__(self, path: tuple) -> int:
        return self.lines[path]

    def __iter__(self):
        return iter(self.lines)

    def __len__(self):
        return len(self.lines)

    def override_for(self, path: tuple) -> str | None:
        for keys, text in self.overrides.items():
            if tuple(path)[:len(keys)] == keys:
                return text
        return None


def _where(source: str, lines: Mapping, path: tuple) -> str:
    path = tuple(path)
    text = lines.override_for(path) if isinstance(lines, _OverrideLines) else None
    if text is not None:
        return f"--set {text}: "
    while path:
        try:
            return f"{source}:{lines[path]}: "
        except KeyError:
            path = path[:-1]
    return f"{source}: "


# --------------------------------------------------------------------------------------------
# Validation with messages that name the key and the allowed values


def _validate(schema: type[BaseModel], raw: Any, source: str, lines: Mapping, prefix: tuple):
    try:
        return schema.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_format_error(schema, raw, e, source, lines)) from None


def _format_error(schema: type[BaseModel], raw: Any, error: ValidationError, source: str, lines: Mapping) -> str:
    errors = error.errors(include_url=False)
    # Prefer the most specific message: unknown keys and bad choices before generic messages,
    # and among those the one deepest in the data (a union's matching member, not its siblings).
    first = min(errors, key=lambda e: (_ERROR_PRIORITY.get(e["type"], 5), -len(_data_path(raw, e["loc"]))))
    path = _data_path(raw, first["loc"])
    if first["type"] == "union_tag_invalid":  # point at the `type:` / `name:` line itself
        path += (first.get("ctx", {}).get("discriminator", "type").strip("'"),)
    dotted = ".".join(_key_text(p) for p in path) or "(top level)"
    message = _describe(schema, first, path)
    # Alternatives of one union fail together at one key: one problem per key, not per alternative.
    others: dict[tuple, dict] = {}
    for e in sorted(errors, key=lambda e: _ERROR_PRIORITY.get(e["type"], 5)):
        others.setdefault(_data_path(raw, e["loc"]), e)
    others.pop(_data_path(raw, first["loc"]), None)
    named = [f"{'.'.join(_key_text(p) for p in key) or '(top level)'}: {_describe(schema, e, key)}"
             for key, e in list(others.items())[:2]]
    rest = len(others) - len(named)
    more = f"; also {'; '.join(named)}" + (f" and {rest} more" if rest else "") if named else ""
    return f"{_where(source, lines, path)}{dotted}: {message}{more}"


def _key_text(key: Any) -> str:
    text = str(key)
    return text if text.isprintable() and text.strip() == text and text else repr(text)


_ERROR_PRIORITY = {"extra_forbidden": 0, "union_tag_invalid": 0, "union_tag_not_found": 0,
                   "literal_error": 1, "missing": 2}


def _data_path(raw: Any, loc: tuple) -> tuple:
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


def _describe(schema: type[BaseModel], err: dict, path: tuple) -> str:
    kind, ctx, value = err["type"], err.get("ctx", {}), err.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(schema, err["loc"][:-1])
        hint = _did_you_mean(str(path[-1]), allowed) if path else ""
        listing = f"; allowed keys here: {', '.join(allowed)}" if allowed and not hint else ""
        return f"unknown key{hint}{listing}"
    if kind == "literal_error":
        options = [o.strip().strip("'\"") for o in ctx.get("expected", "").replace(" or ", ", ").split(",")]
        return f"{value!r} is not one of {', '.join(options)}{_did_you_mean(str(value), options)}"
    if kind == "union_tag_invalid":
        options = [o.strip().strip("'\"") for o in ctx.get("expected_tags", "").split(",")]
        tag = ctx.get("tag")
        return f"{tag!r} is not one of {', '.join(options)}{_did_you_mean(str(tag), options)}"
    if kind == "union_tag_not_found":
        return f"missing key '{ctx.get('discriminator', 'type').strip(chr(39))}'"
    if kind == "missing":
        return "required key is missing"
    msg = err["msg"]
    msg = msg[0].lower() + msg[1:] if msg else msg
    if isinstance(value, (dict, list)):
        return msg
    shown = repr(value)
    shown = shown if len(shown) <= 40 else f"{shown[:30]}... ({len(str(value))} characters)"
    return f"{shown} is invalid: {msg}"


def _allowed_keys(schema: type[BaseModel], loc: tuple) -> list[str]:
    """Walk the schema along a pydantic location to the model whose keys are allowed there."""
    cls: Any = schema
    for part in loc:
        cls = _unwrap(cls)
        if isinstance(part, int):
            continue
        if isinstance(cls, list):  # a union: the part is the tag naming the member
            cls = next((m for m in cls if _tag_of(m) == part), None)
            if cls is None:
                return []
            continue
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or part not in cls.model_fields:
            return []
        cls = cls.model_fields[part].annotation
    cls = _unwrap(cls)
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        return list(cls.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated/Optional/list; return a model class, or a list of models for a tagged union."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, getattr(__import__("types"), "UnionType", None)):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
            else:
                models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
                return models if len(models) > 1 else (models[0] if models else annotation)
        elif origin in (list, tuple):
            annotation = typing.get_args(annotation)[0]
        else:
            return annotation


def _tag_of(model: type[BaseModel]) -> str | None:
    for name in ("type", "name"):
        f = model.model_fields.get(name)
        if f is not None and typing.get_origin(f.annotation) is Literal:
            return typing.get_args(f.annotation)[0]
    return None


def _did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


# --------------------------------------------------------------------------------------------
# Overrides and merging


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected KEY.PATH=VALUE, e.g. --set training.epochs=5")
    key, _, value = text.partition("=")
    keys = [k for k in key.strip().split(".")]
    if not all(keys):
        raise ConfigError(f"--set {text}: empty key in '{key}'; use dotted keys like training.epochs")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return keys, parsed


def _set_path(data: dict, keys: list[str], value: Any, source: str) -> None:
    node = data
    for k in keys[:-1]:
        child = node.get(k)
        if child is None:
            child = node[k] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set {'.'.join(keys)}: '{k}' is not a section in {source}")
        node = child
    node[keys[-1]] = value


def _deep_merge(base: dict, override: dict) -> dict:
    """Merge a variant over the base: mappings merge key by key, anything else replaces."""
    for key, value in override.items():
        old = base.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            _deep_merge(old, value)
        else:
            base[key] = copy.deepcopy(value)
    return base
