"""`nnx compare`: runs side by side, as a table, markdown, csv or json, and curves."""

from __future__ import annotations

import click

from .common import debug_option, print_table


@click.command()
@click.argument("paths", nargs=-1, metavar="[RUN_OR_EXPERIMENT_FOLDER|GLOB]...")
@click.option("--metric", "-m", "metrics", multiple=True, metavar="SPLIT.METRIC",
              help="Sort by this metric, e.g. test.accuracy or val.loss (default: test.error for "
                   "classifiers, test.mse for regression, test.loss otherwise); repeat to plot several.")
@click.option("--columns", "-c", metavar="A,B,...",
              help="Columns to show, e.g. run,differs,params,test.error,seconds (also n, status, notes, "
                   "model, epochs, best_epoch, device, any metric or config key).")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "csv", "json"]), default="table",
              show_default=True, help="Output format, on stdout.")
@click.option("--plot", type=click.Path(dir_okay=False), metavar="FILE.png",
              help="Also draw validation (solid) and train (dashed) curves of the metric(s) per epoch.")
@click.option("--per-run", is_flag=True, help="One row per run folder: do not average seeds.")
@click.option("--output-dir", "-o", default="outputs", show_default=True, type=click.Path(file_okay=False),
              help="Where to look for experiments when no folder is given.")
@debug_option
def compare(paths, metrics, columns, fmt, plot, per_run, output_dir, debug):
    """Compare runs side by side: one row per run, or per variant (mean ± sd over seeds).

    Give run folders, experiment folders (all their runs) or globs; with none, every experiment
    under outputs/. Only the config keys whose values differ between the runs are shown.

    \b
    Examples:
      nnx compare outputs/mnist_regularization
      nnx compare 'outputs/mnist_regularization/*-dropout*' outputs/other --metric test.accuracy
      nnx compare outputs/mnist_regularization --format markdown > table.md
      nnx compare outputs/mnist_regularization --plot curves.png -m error -m loss
    """
    from .. import compare as compare_
    from ..report import err_console

    comparison = compare_.compare(paths, metrics=metrics, columns=columns, per_run=per_run, root=output_dir)
    if plot:
        compare_.plot_curves(comparison, plot, [comparison.metric, *metrics[1:]])
        err_console.print(f"curves written to {plot}")
    if fmt == "table":
        print_table(compare_.render_table(comparison))
    else:
        click.echo(compare_.render(comparison, fmt), nl=False)
