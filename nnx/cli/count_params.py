"""`nnx count-params`: a model's layers and parameter counts (the engine is nnx.params)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import ConfigError
from .common import data_dir_option, debug_option


@click.command("count-params")
@click.argument("arch", required=False)
@click.option("--list", "list_", is_flag=True, help="List the model types that can be counted, and exit.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--depth", type=click.IntRange(min=0), default=2, show_default=True,
              help="Levels of nested blocks to show (0: all).")
@click.option("--convention", type=click.Choice(["keras", "torch"]), default="keras", show_default=True,
              help="keras: batch-norm statistics are non-trainable parameters; torch: as PyTorch reports "
                   "the same architecture (see docs/count-params.md).")
@click.option("--input", "input_features", type=click.IntRange(min=1), metavar="N",
              help="Flat input with N features (same as --input-shape N).")
@click.option("--input-shape", metavar="H,W,C", help="Input shape without the batch axis, e.g. 224,224,3.")
@click.option("--classes", type=click.IntRange(min=1), metavar="N", help="Number of outputs (classes).")
@click.option("--vocab-size", type=click.IntRange(min=1), metavar="N", help="Vocabulary size, for text models.")
@click.option("--hidden", metavar="N,N,...", help="Hidden layer sizes of an mlp, e.g. 256,128.")
@click.option("--set", "options", multiple=True, metavar="KEY=VALUE",
              help="Any other option of the model type, e.g. --set activation=tanh (repeatable).")
@click.option("--variant", metavar="NAME", help="Which variant of an experiment file (default: the first).")
@data_dir_option
@debug_option
def count_params(arch, list_, fmt, depth, convention, input_features, input_shape, classes, vocab_size, hidden,
                 options, variant, data_dir, debug):
    """Count the parameters of ARCH, layer by layer, without allocating them.

    ARCH is an experiment file (its model on its data set's shape; the data is not read) or a
    model type. The model is the very Flax module `nnx train` builds, made abstractly.

    \b
    Examples:
      nnx count-params experiments/mnist_mlp.yaml
      nnx count-params mlp --input 784 --hidden 256,128 --classes 10
      nnx count-params resnet50
      nnx count-params vgg16 --format json
      nnx count-params resnet50 --convention torch
      nnx count-params resnet50 --input-shape 32,32,3 --classes 10
      nnx count-params --list
    """
    from .. import params
    from ..report import out_console

    if list_:
        rows = params.known_models()
        if fmt == "json":
            click.echo(json.dumps([{"name": n, "description": d} for n, d in rows], indent=2))
        else:
            for name, doc in rows:
                out_console.print(f"{name:<14} {doc}", markup=False, highlight=False)
        return
    if not arch:
        raise ConfigError("count-params: give a model type or an experiment file (nnx count-params --list "
                          "shows the model types)")
    if input_features is not None and input_shape is not None:
        raise ConfigError("--input and --input-shape: give one of them")
    shape = (input_features,) if input_features is not None else (
        parse_ints(input_shape, "--input-shape") if input_shape else None)
    from_file = arch.endswith((".yaml", ".yml")) or "/" in arch or Path(arch).is_file()
    # For an experiment file, --set is the experiment's own (model.hidden=[64], as nnx train takes it).
    target = params.resolve(arch, input_shape=shape, classes=classes, vocab_size=vocab_size,
                            options=parse_options(hidden, () if from_file else options), variant=variant,
                            overrides=options if from_file else (), data_dir=data_dir)
    summary = params.count(target, convention)
    if fmt == "json":
        click.echo(json.dumps(summary.as_dict(depth), indent=2))
    else:
        out_console.print(render(summary, depth))


def parse_ints(text: str, option: str, example: str = "224,224,3") -> tuple[int, ...]:
    try:  # "224,224,3" or "224x224x3"; an empty or non-numeric part is an error, not skipped
        values = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values):
        raise ConfigError(f"{option} {text}: expected positive integers separated by commas, e.g. {example}")
    return values


def parse_options(hidden: str | None, options) -> dict:
    """The model options of `--hidden N,N` and `--set KEY=VALUE` (values are YAML)."""
    import yaml

    out = {}
    if hidden is not None:
        out["hidden"] = list(parse_ints(hidden, "--hidden", "256,128"))
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item}: expected KEY=VALUE, e.g. --set activation=tanh")
        key = key.strip().removeprefix("model.")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"--set {item}: the value is not valid YAML; close its brackets and quotes, "
                              "or quote the whole value") from None
    return out


def render(summary, depth: int = 2):
    """A Keras-style summary: a tree of layers, then the totals and any notes."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from ..params import CONVENTIONS, format_shape, layer_notes

    header = Text(f"{summary.model}: input {format_shape((None, *summary.input_shape))}, "
                  f"output {format_shape(summary.root.output_shape)}\n{CONVENTIONS[summary.convention]}")
    table = Table()
    table.add_column("Layer")
    table.add_column("Type")
    table.add_column("Output shape")
    table.add_column("Params", justify="right")

    def add(layer, parent: str):
        for child in layer.children:
            if depth and child.depth > depth:
                continue
            short = child.name[len(parent) + 1:] if parent else child.name
            marked = any(c.note for c in (child, *child.walk()))
            table.add_row("  " * (child.depth - 1) + short, child.type, format_shape(child.output_shape),
                          f"{child.params:,}" + (" *" if marked else ""))
            add(child, child.name)

    add(summary.root, "")
    totals = Text(f"Total params: {summary.total:,}\n"
                  f"Trainable params: {summary.trainable:,}\n"
                  f"Non-trainable params: {summary.non_trainable:,}")
    notes = [Text(f"* {n}") for n in layer_notes(summary)] + [Text(f"note: {n}") for n in summary.notes]
    return Group(header, table, totals, *notes)
