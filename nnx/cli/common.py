"""What the commands share: exit codes, the options several commands take, table printing."""

from __future__ import annotations

import sys

import click

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

DATA_DIR_HELP = "Folder with data files; searched before $NNX_DATA_DIR and ~/.cache/nnx."

debug_option = click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False), help=DATA_DIR_HELP)


def device_option(what: str = "Where to train."):
    return click.option("--device", type=click.Choice(["auto", "cpu", "gpu", "tpu"]), default="auto",
                        show_default=True, help=what)


def print_table(table) -> None:
    """On a terminal, fit the screen; piped or redirected, as wide as the table needs, never folded."""
    from ..report import out_console

    console = out_console
    if not console.is_terminal:
        from rich.console import Console

        console = Console(highlight=False, width=max(120, _width(console, table)))
    console.print(table)


def table_width() -> int:
    """The width a default comparison table is fitted to: the terminal's, or 120 when piped."""
    from ..report import out_console

    return out_console.width if out_console.is_terminal else 120


def print_runs_table(folders, title: str = "runs") -> None:
    """The table `nnx compare` prints for these run folders (the end of train and ensemble)."""
    from ..compare import table_from_runs

    print_table(table_from_runs(folders, title=title, width=table_width()))


def _width(console, renderable) -> int:
    return console.measure(renderable, options=console.options.update_width(100_000)).maximum


def exit_for(outcomes) -> None:
    """130 when a run was interrupted (with how to continue each), 1 when one failed, else 0. The
    last lines a script or a person reads: which runs failed and why, then what was interrupted
    (the table above lists them too; each run folder keeps the reason in its status.json)."""
    from ..report import err_console, print_error

    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        first = failed[0]
        more = f" (and {len(failed) - 1} more run{'s' if len(failed) > 2 else ''}: see the table)" if len(failed) > 1 else ""
        print_error(f"run {first.spec.run_name} failed: {first.error}{more}")
    interrupted = [o for o in outcomes if o.status == "interrupted"]
    if interrupted:
        for outcome in interrupted:
            err_console.print(f"interrupted: {outcome.error}", markup=False)
        sys.exit(EXIT_INTERRUPTED)
    if failed or any(o.status != "completed" for o in outcomes):
        sys.exit(EXIT_RUN_FAILED)
