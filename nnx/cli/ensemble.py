"""`nnx ensemble`: average trained networks' predictions and score them as a run of their own."""

from __future__ import annotations

import click

from .common import data_dir_option, debug_option, device_option, print_runs_table


@click.command()
@click.argument("runs", nargs=-1, metavar="RUN_FOLDER...")
@click.option("--output-dir", "-o", type=click.Path(file_okay=False),
              help="Where the ensemble's run folder is written: OUTPUT_DIR/<experiment>/<time>-<variant>-ensemble/ "
                   "(default: the members' OUTPUT_DIR, so that it sits beside them).")
@data_dir_option
@device_option("Where to run the members.")
@debug_option
def ensemble(runs, output_dir, data_dir, device, debug):
    """Average the predictions of trained networks, such as one variant's seeds, and score them.

    Each RUN_FOLDER is a completed network run; all must share the data section. Regression
    outputs are averaged, class probabilities for classifiers. The ensemble gets a run folder of
    its own, and the table shows it beside its members (mean ± sd over them).

    \b
    Examples:
      nnx train experiments/nyse.yaml --only nar_skip --set seeds=10
      nnx ensemble outputs/nyse/*-nar_skip-seed*
    """
    from .. import runtime
    from ..report import err_console

    runtime.select_device(device)
    runtime.check_device(device)
    from .. import ensemble as ensemble_
    from ..report import ConsoleReporter
    from ..runner import InterruptFlag

    # Ctrl-C (or SIGTERM) is caught as a flag and acted on between members: raised anywhere, it can land in
    # one of JAX's garbage-collection callbacks, where Python ignores it.
    with InterruptFlag(ConsoleReporter(), "stopping after this member; nothing will be written") as stop:
        result = ensemble_.ensemble(runs, output_dir=output_dir, data_dir=data_dir, should_stop=stop,
                                    progress=lambda text: err_console.print(f"scoring {text}", markup=False))
    err_console.print(f"ensemble written to {result.folder}", markup=False)
    print_runs_table([*runs, result.folder], title="members and their ensemble")
