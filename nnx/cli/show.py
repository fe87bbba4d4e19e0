"""`nnx show`: one run at a glance, and what a classifier gets wrong."""

from __future__ import annotations

import click

from .common import data_dir_option, debug_option


@click.command()
@click.argument("run", metavar="RUN_FOLDER")
@click.option("--plot", "plots", multiple=True, type=click.Path(), metavar="FILE.png",
              help="Draw a picture, chosen by the file's name: a name with 'confusion' the confusion matrix, "
                   "one with 'mistake' the most confidently wrong test images (image runs). Repeatable.")
@click.option("--mistakes", "count", type=click.IntRange(1, 64), default=25, show_default=True,
              help="How many mistakes the mistakes picture draws.")
@click.option("--top", type=click.IntRange(0, 64), default=10, show_default=True,
              help="How many of the most confidently wrong test examples to list.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="Output format, on stdout.")
@data_dir_option
@debug_option
def show(run, plots, count, top, fmt, data_dir, debug):
    """One run: its status and metrics and, for classifiers, the confusion matrix and per-class
    precision, recall and F1 on the test split (ROC AUC for binary tasks).

    Works for ensembles too. Runs trained before nnx recorded classification.json are scored
    again from their saved model and data (nothing is written into the run folder).

    \b
    Examples:
      nnx show outputs/mnist_mlp/20261202-001500-default
      nnx show outputs/mnist_mlp/20261202-001500-default --plot confusion.png --plot mistakes.png
      nnx show outputs/default/20261202-001500-network --format json
    """
    import json

    from .. import show as show_
    from ..report import err_console, out_console
    from ..show import render

    for path in plots:  # before any work: a misnamed picture costs nothing
        show_.plot_kind(path)
    view = show_.view(run, data_dir=data_dir)
    for path in plots:
        show_.plot(view, path, data_dir=data_dir, count=count)
        err_console.print(f"{show_.PLOTS[show_.plot_kind(path)]} drawn in {path}", markup=False)
    if fmt == "json":
        click.echo(json.dumps(render.as_json(view), indent=2))
        return
    for part in render.renderables(view, top_mistakes=top):
        out_console.print(part)
