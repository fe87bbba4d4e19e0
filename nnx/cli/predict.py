"""`nnx predict`: a trained run's answers for new images, table rows, reviews, or its own splits."""

from __future__ import annotations

from pathlib import Path

import click

from .common import data_dir_option, debug_option, device_option

FORMATS = ("table", "csv", "json")
SHOWN_ROWS = 20  # rows of a split's table on the terminal; csv and json hold them all


@click.command()
@click.argument("sources", nargs=-1, metavar="RUN [INPUTS]...")
@click.option("--text", "texts", multiple=True, metavar="TEXT",
              help="A review to classify (a text run); repeat for several.")
@click.option("--split", type=click.Choice(["test", "val", "train"]),
              help="Predict the run's own split instead, and score it against the recorded metrics.")
@click.option("--top", "top", type=click.IntRange(min=1), default=3, show_default=True,
              help="Classifiers: how many of the most probable classes to show.")
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              help="Output: a table (default), csv or json; with -o, from the file's extension.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the predictions to this file.")
@data_dir_option
@device_option("Where to run the model.")
@debug_option
def predict(sources, texts, split, top, fmt, output, data_dir, device, debug):
    """Predict with a trained run: images, rows of a table, or reviews, by the run's own preprocessing.

    RUN is a completed run folder (or an ensemble's, which predicts with its members' mean).
    INPUTS are image files or folders (an image run), CSV/TSV/Parquet files with the training
    columns (a table run), or text files with one review per line (a text run). Each input goes
    through what the run recorded at training time (preprocessing.json): an image of another size
    is resized by the training rule, a colour image converted for a grayscale model; each change
    is reported.

    \b
    Examples:
      nnx predict outputs/mnist_mlp/20260101-120000-default digit1.png digits/
      nnx predict outputs/default/20260101-120000-network new_customers.csv -o out.csv
      nnx predict outputs/imdb_bow/20260101-120000-nn --text "A wonderful, moving film."
      nnx predict outputs/mnist_mlp/20260101-120000-default --split test --format json
    """
    from ..errors import ConfigError

    if not sources:
        raise ConfigError("nnx predict: give a run folder, e.g. nnx predict outputs/mnist_mlp/<run> digit.png")
    run, inputs = sources[0], sources[1:]
    fmt = fmt or _format_of(output)
    from .. import runtime

    runtime.select_device(device)
    runtime.check_device(device)
    from .. import predict as predict_

    result = predict_.predict(run, inputs, texts, split=split, data_dir=data_dir)
    _report(result, top, fmt, output)


def _format_of(output: str | None) -> str:
    suffix = Path(output).suffix.lower() if output else ""
    return {".csv": "csv", ".json": "json"}.get(suffix, "table")


def _report(result, top: int, fmt: str, output: str | None) -> None:
    from .. import predict as predict_
    from ..report import err_console, out_console

    for note in result.notes:
        err_console.print(f"note: {note}", markup=False)
    if fmt == "table":
        text = None
        table = _table(result, top, shown=None if output else SHOWN_ROWS)
    else:
        text = predict_.to_json(result, top) if fmt == "json" else predict_.to_csv(result, top)
    if output:
        from ..record import write_atomic

        if text is None:  # the table as plain text, as wide as it needs
            import io

            from rich.console import Console

            console = Console(file=io.StringIO(), width=1000, highlight=False)
            console.print(table)
            text = console.file.getvalue()
        write_atomic(Path(output), text)
        err_console.print(f"{len(result.names)} predictions written to {output}", markup=False)
    elif text is not None:
        click.echo(text, nl=False)
    else:
        from .common import print_table

        print_table(table)
        hidden = len(result.names) - SHOWN_ROWS
        if hidden > 0:
            out_console.print(f"... {hidden:,} more rows: --format csv -o FILE writes them all", markup=False)
    if result.metrics is not None:
        err_console.print(_score_line(result), markup=False)


def _score_line(result) -> str:
    """The split's score now beside the recorded one: the headline metric of the task."""
    key = "mse" if result.task == "regression" else "accuracy"
    now, recorded = result.metrics.get(key), (result.recorded or {}).get(key)
    line = f"{result.split} {key} {now:.6g} on {len(result.names):,} examples"
    if recorded is None:
        return line + " (the run recorded none for this split)"
    same = "equal to" if now == recorded else f"differs by {now - recorded:+.3g} from"
    return line + f", {same} the recorded {recorded:.6g}"


def _table(result, top: int, shown: int | None):
    from rich.table import Table

    rows = result.rows(top)
    title = f"{result.run.name}" + (f": {result.split} split" if result.split else "")
    table = Table(title=title, title_justify="left")
    if not rows:
        return table
    for key in rows[0]:
        table.add_column(key, justify="right" if key.startswith(("probability", "p(", "value")) else "left",
                         overflow="fold")
    for row in rows[:shown]:
        table.add_row(*(_cell(v) for v in row.values()))
    return table


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e4 else f"{value:,.1f}"
    return str(value)
