"""What count-params counts: an experiment file's model on its data set's shape (the data is not
read), or a model type with options; `count` gives the per-layer Summary of nnx.params.engine."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .engine import Summary, abstract_model, summarize


@dataclass
class Target:
    label: str
    spec: Any
    info: Any
    notes: list[str] = field(default_factory=list)


def resolve(arch: str, *, input_shape: tuple | None = None, classes: int | None = None,
            vocab_size: int | None = None, options: dict | None = None, variant: str | None = None,
            overrides=(), data_dir=None) -> Target:
    """Turn ARCH (an experiment file or a model type) and the options into a model spec and DataInfo."""
    from .. import models

    options = dict(options or {})
    looks_like_file = arch.endswith((".yaml", ".yml")) or "/" in arch or Path(arch).is_file()
    if variant is not None and not looks_like_file:
        raise ConfigError(f"--variant {variant}: variants belong to experiment files; {arch} is a model type")
    if looks_like_file:
        if options:
            raise ConfigError(f"{', '.join('--' + k for k in options)}: model options apply to a model type, "
                              f"not to an experiment file; edit {arch} or use --set model.KEY=VALUE")
        return _from_experiment(arch, input_shape, classes, vocab_size, variant, overrides, data_dir)
    if arch not in models.names(network=True):
        if arch in models.names(network=False):
            raise ConfigError(f"{arch} is a closed-form estimator: its parameters are known only once it is "
                              "fitted (nnx train reports them); count-params counts networks")
        hint = difflib.get_close_matches(arch, models.names(), n=3, cutoff=0.5)
        suggestion = f"; did you mean {' or '.join(hint)}?" if hint else ""
        raise ConfigError(f"unknown model '{arch}'{suggestion} (nnx count-params --list shows the names)")
    spec = _model_spec({"type": arch, **options})
    return Target(arch, spec, _info_for_model(spec, input_shape, classes, vocab_size))


def _model_spec(raw: dict):
    """The spec of a model type with count-params' options (`--hidden`, `--set KEY=VALUE`), or a
    one-line error naming the option, the model type's options and a did-you-mean."""
    from pydantic import TypeAdapter, ValidationError

    from ..config.messages import did_you_mean, problems
    from ..models import ModelSpec

    try:
        return TypeAdapter(ModelSpec).validate_python(raw)
    except ValidationError as e:
        problem = problems(ModelSpec, raw, e)[0]
    kind, key = raw["type"], (problem.path or ("type",))[0]
    option = "--hidden" if key == "hidden" and problem.kind == "extra_forbidden" else f"--set {key}"
    if problem.kind == "extra_forbidden":
        options = [k for k in problem.allowed if k != "type"]
        raise ConfigError(f"{option}: {kind} has no option '{key}'{did_you_mean(str(key), options)}; "
                          f"{kind}'s options: {', '.join(options) or 'none'}")
    dotted = ".".join(str(p) for p in problem.path) or "type"
    raise ConfigError(f"{option}: {kind}: {dotted}: {problem.message}")


def _info_for_model(spec, input_shape, classes, vocab_size):
    from ..data.base import DataInfo

    default = getattr(spec, "default_input_shape", None)
    if input_shape and default and len(input_shape) != len(default):
        raise ConfigError(f"--input-shape {','.join(map(str, input_shape))}: {spec.type} takes an image as "
                          f"height,width,channels (default {','.join(map(str, default))})")
    shape = input_shape or getattr(spec, "input_shape", None) or default
    if shape is None:
        raise ConfigError(f"{spec.type}: the input shape is needed; pass --input N (features) or "
                          "--input-shape H,W,C, or give an experiment file")
    if classes is None:
        classes = getattr(spec, "classes", None)
    if classes is None:
        if getattr(spec, "default_input_shape", None) is None:
            raise ConfigError(f"{spec.type}: the number of outputs is needed; pass --classes N")
        classes = 1000  # the ImageNet classes of the Keras applications
    return DataInfo(tuple(shape), "classification", classes, vocab_size)


def _from_experiment(path, input_shape, classes, vocab_size, variant, overrides=(), data_dir=None) -> Target:
    import dataclasses

    from .. import models
    from ..config import load_experiment
    from ..data import info_for

    experiment = load_experiment(path, overrides=overrides, data_dir=data_dir)  # as nnx train reads it
    runs = [r for r in experiment.runs if variant in (None, r.variant)]
    if not runs:
        raise ConfigError(f"--variant {variant}: no such variant in {path}; the variants are "
                          f"{', '.join(experiment.variants)}")
    run = runs[0]
    def counted(spec) -> bool:
        return models.family(spec).network

    networks = [] if variant or counted(run.model) else \
        [r.variant for r in experiment.runs if r.seed == run.seed and counted(r.model)]
    if networks:
        raise ConfigError(f"{path}: its first variant, '{run.variant}', is a closed-form {run.model.type}; "
                          f"count a network variant with --variant ({', '.join(networks)})")
    notes = []
    if len(experiment.variants) > 1 and not variant:
        notes.append(f"variant '{run.variant}' (the first of {', '.join(experiment.variants)}; "
                     "choose with --variant)")
    info = info_for(run.data)  # every data family declares it from its spec: no file is read
    if classes is not None and info.task != "classification":
        raise ConfigError(f"--classes {classes}: {run.data.name} is a {info.task} task with one output")
    else:
        changes = {k: v for k, v in (("input_shape", tuple(input_shape) if input_shape else None),
                                     ("num_classes", classes), ("vocab_size", vocab_size)) if v is not None}
        info = dataclasses.replace(info, **changes)
    if info.task == "classification" and info.num_classes is None:
        raise ConfigError(f"{path}: the number of classes of '{run.data.name}' is not known; pass --classes")
    label = f"{experiment.name}" + (f" [{run.variant}]" if len(experiment.variants) > 1 else "")
    return Target(f"{label} ({run.model.type} on {run.data.name})", run.model, info, notes)


def count(target: Target, convention: str = "keras") -> Summary:
    from .. import models

    if not models.family(target.spec).network:
        raise ConfigError(f"{target.spec.type} is a closed-form estimator: its parameters are known only once "
                          "it is fitted (nnx train reports them); count-params counts networks")
    model = abstract_model(target.spec, target.info)
    dtype = "int32" if target.info.vocab_size else "float32"
    summary = summarize(model, target.info.input_shape, name=target.label, convention=convention,
                        input_dtype=dtype)
    summary.notes[:0] = target.notes
    return summary


def _first_sentence(doc: str) -> str:
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    end = paragraph.find(". ")
    return paragraph if end < 0 else paragraph[:end + 1]


def known_models() -> list[tuple[str, str]]:
    """(name, one-line description) of every model type count-params can count."""
    from .. import models
    from ..models.applications import APPLICATION_INPUT_SHAPES

    docs = {}
    for name in models.names(network=True):
        docs[name] = _first_sentence(models.family(name).spec.__doc__ or "")
        if name in APPLICATION_INPUT_SHAPES:
            docs[name] = ("Keras application (include_top=True), default input "
                          + "x".join(map(str, APPLICATION_INPUT_SHAPES[name])) + ", 1000 classes")
    return [(name, docs.get(name, "")) for name in models.names(network=True)]


