"""`nnx compare`: runs side by side, as a table, markdown, csv or json, and curves."""

from __future__ import annotations

import click

from .common import debug_option, print_table, table_width


@click.command()
@click.argument("paths", nargs=-1, metavar="[RUN_OR_EXPERIMENT_FOLDER|GLOB]...")
@click.option("--metric", "-m", "metrics", multiple=True, metavar="SPLIT.METRIC",
              help="Sort by this metric, e.g. test.accuracy or val.loss (default: test.error for "
                   "classifiers, test.mse for regression, test.loss otherwise); repeat to plot several.")
@click.option("--columns", "-c", metavar="A,B,...",
              help="Columns to show, e.g. run,differs,params,test.error,seconds (also n, status, notes, "
                   "model, epochs, best_epoch, device, any metric or config key).")
@click.option("--wide", is_flag=True,
              help="Every default column, one per differing config key, however wide (the default table is "
                   "fitted to the terminal, or to 120 characters when piped).")
@click.option("--best-by", metavar="validation.METRIC",
              help="Mark (✓) the row best on this validation metric in each experiment and show its test "
                   "metric beside it, e.g. validation.error; never a test metric.")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "csv", "json"]), default="table",
              show_default=True, help="Output format, on stdout.")
@click.option("--plot", type=click.Path(dir_okay=False), metavar="FILE.png",
              help="Also draw validation (solid) and train (dashed) curves of the metric(s) per epoch.")
@click.option("--per-run", is_flag=True, help="One row per run folder: do not average seeds.")
@click.option("--output-dir", "-o", default="outputs", show_default=True, type=click.Path(file_okay=False),
              help="Where to look for experiments when no folder is given.")
@debug_option
def compare(paths, metrics, columns, wide, best_by, fmt, plot, per_run, output_dir, debug):
    """Compare runs side by side: one row per run, or per variant (mean ± sd over seeds).

    Give run folders, experiment folders (all their runs) or globs; with none, every experiment
    under outputs/. Only the config keys whose values differ between the runs (that read them) are shown.

    \b
    Examples:
      nnx compare outputs/mnist_regularization
      nnx compare 'outputs/mnist_regularization/*-dropout*' outputs/other --metric test.accuracy
      nnx compare outputs/mnist_regularization --format markdown > table.md
      nnx compare outputs/mnist_regularization --plot curves.png -m error -m loss
      nnx compare outputs/mnist_regularization --best-by validation.error
    """
    from .. import compare as compare_
    from ..report import err_console

    comparison = compare_.compare(paths, metrics=metrics, columns=columns, per_run=per_run, root=output_dir,
                                  best_by=best_by)
    if plot:
        compare_.plot_curves(comparison, plot, [comparison.metric, *metrics[1:]])
        err_console.print(f"curves written to {plot}")
    if fmt == "table":
        print_table(compare_.render_table(comparison, width=None if wide else table_width()))
    else:
        click.echo(compare_.render(comparison, fmt), nl=False)
