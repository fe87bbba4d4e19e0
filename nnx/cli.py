"""The `nnx` command: a thin Click layer over the library.

Commands parse their options, call the library, and render with Rich. Heavy imports (JAX, Flax,
Optax) happen inside the commands, so `nnx --help` answers at once.
"""

from __future__ import annotations

import os
import sys

import click

from . import __version__

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="nnx")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """nnx: run the neural-network experiments of ISLR/ISLP chapter 10 from YAML files.

    \b
    Examples:
      nnx train experiments/quickstart.yaml
      NNX_DATA_DIR=~/data nnx train experiments/mnist_mlp.yaml --set training.epochs=5
      nnx compare outputs/mnist_regularization
      nnx count-params experiments/mnist_mlp.yaml
    """


def _select_device(device: str) -> None:
    """Must run before JAX is imported: picks the platform JAX initializes."""
    if device == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"


CACHE_OFF = {"0", "off", "false", "no"}


def compilation_cache_dir(environ=os.environ) -> str | None:
    """Where XLA's compiled programs are kept between runs, or None for nowhere.

    `NNX_COMPILATION_CACHE` names the folder, or turns the cache off (`off`); unset, it is
    `~/.cache/nnx/jax` (beside the data cache). A `JAX_COMPILATION_CACHE_DIR` the user set is
    JAX's own setting and is left alone.
    """
    choice = environ.get("NNX_COMPILATION_CACHE", "").strip()
    if choice.lower() in CACHE_OFF or environ.get("JAX_COMPILATION_CACHE_DIR"):
        return None
    if choice:
        return choice
    from .data.store import cache_dir

    return str(cache_dir() / "jax")


def _use_compilation_cache() -> None:
    """Keep compiled programs between runs: a second run of an experiment skips most of its compile
    (a 1-epoch MNIST MLP run, launch to exit on 2 CPU cores: 7.5 s cold, 3.8-4.7 s warm).

    Sets JAX's environment variables, so it must run before JAX is imported. A folder that cannot
    be created or written only costs time: the run goes on without the cache.
    """
    folder = compilation_cache_dir()
    if folder is None:
        return
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return
    if os.access(folder, os.W_OK):
        os.environ["JAX_COMPILATION_CACHE_DIR"] = folder
        # Every program, not only those over JAX's default 1 s of compile: the small ones add up.
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def _start_distributed() -> None:
    """Several hosts: when the coordinator is named in the environment, join the JAX cluster.

    Reads NNX_COORDINATOR (host:port), NNX_NUM_PROCESSES and NNX_PROCESS_ID; on a managed cluster
    (SLURM, TPU pods) `jax.distributed.initialize()` finds them itself when NNX_DISTRIBUTED=1.
    """
    coordinator = os.environ.get("NNX_COORDINATOR")
    if not coordinator and os.environ.get("NNX_DISTRIBUTED") != "1":
        return
    import jax

    # CPU processes talk through Gloo (GPUs use NCCL regardless); set before any backend starts.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if coordinator:
        jax.distributed.initialize(coordinator_address=coordinator,
                                   num_processes=int(os.environ["NNX_NUM_PROCESSES"]),
                                   process_id=int(os.environ["NNX_PROCESS_ID"]))
    else:
        jax.distributed.initialize()


def _primary_writes(output_dir, quiet):
    """With several processes, process 0 writes the run folders and reports; the others train
    alongside it and write into a scratch folder, removed when the process exits."""
    if "jax" not in sys.modules:
        return output_dir, quiet
    import jax

    if jax.process_count() == 1 or jax.process_index() == 0:
        return output_dir, quiet
    import atexit
    import shutil
    import tempfile

    scratch = tempfile.mkdtemp(prefix=f"nnx-process{jax.process_index()}-")
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    return scratch, True


def _check_device(device: str) -> None:
    import jax

    backend = jax.default_backend()
    if device in ("gpu", "tpu") and backend != device:
        from .errors import ConfigError

        raise ConfigError(f"--device {device}: no {device.upper()} visible to JAX (it sees: {backend}); "
                          f"install JAX with {device.upper()} support or use --device cpu")


@cli.command()
@click.argument("experiment_file", type=click.Path(dir_okay=True, path_type=str), required=False)
@click.option("--output-dir", "-o", default="outputs", show_default=True, type=click.Path(file_okay=False),
              help="Where run folders are written: OUTPUT_DIR/<experiment>/<time>-<run>/.")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="Folder with data files; searched before $NNX_DATA_DIR and ~/.cache/nnx.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set training.epochs=5 (repeatable).")
@click.option("--seed", type=int, help="Override the experiment's seed (the first seed with `seeds: N`).")
@click.option("--only", multiple=True, metavar="VARIANT", help="Run only these variants (repeatable).")
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu", "tpu"]), default="auto", show_default=True,
              help="Where to train.")
@click.option("--devices", default="1", show_default=True, metavar="N|all",
              help="Train data-parallel over N local devices (or all); batches are split over them.")
@click.option("--dry-run", is_flag=True, help="List the runs that would be made, and exit.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, path_type=str), metavar="RUN_FOLDER",
              help="Continue an interrupted or crashed run from its last complete epoch.")
@click.option("--force", is_flag=True, help="With --resume: accept a config that differs from the run's.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors and the final table.")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def train(experiment_file, output_dir, data_dir, overrides, seed, only, device, devices, dry_run, resume_dir,
          force, quiet, debug):
    """Train every variant and seed of EXPERIMENT_FILE, each into its own run folder.

    \b
    Examples:
      nnx train experiments/quickstart.yaml
      nnx train experiments/mnist_regularization.yaml --only dropout --set training.epochs=10
      nnx train experiments/mnist_mlp.yaml --dry-run
      nnx train --resume outputs/mnist_mlp/20261126-101500-default
    """
    from .config import load_experiment

    if devices != "all" and not devices.isdigit():
        raise click.BadParameter(f"'{devices}' is not a number of devices or 'all'", param_hint="--devices")
    if resume_dir:
        _refuse_options_resume_ignores(seed, only)
        if dry_run:
            from .runner import describe_resume

            click.echo(describe_resume(resume_dir))
            return
    _use_compilation_cache()
    _start_distributed()
    if resume_dir:
        _resume(experiment_file, resume_dir, overrides, force, device, data_dir, quiet, devices)
        return
    if experiment_file is None:
        raise click.UsageError("give an EXPERIMENT_FILE (or --resume RUN_FOLDER)")
    experiment = load_experiment(experiment_file, overrides=overrides, seed=seed, only=only)
    if dry_run:
        _print_plan(experiment, output_dir)
        return
    _select_device(device)
    from .report import ConsoleReporter
    from .runner import run_experiment

    _check_device(device)
    output_dir, quiet = _primary_writes(output_dir, quiet)
    outcomes = run_experiment(experiment, output_dir=output_dir, data_dir=data_dir,
                              reporter=ConsoleReporter(quiet=quiet), debug=debug, devices=devices)
    _print_runs_table(outcomes)
    _exit_for(outcomes)


def _print_runs_table(outcomes) -> None:
    """The end-of-train table: the same table `nnx compare` prints for these run folders."""
    from .compare import table_from_runs

    _print_table(table_from_runs([o.folder for o in outcomes], title="runs"))


def _print_table(table) -> None:
    """On a terminal, fit the screen; piped or redirected, as wide as the table needs, never folded."""
    from .report import out_console

    console = out_console
    if not console.is_terminal:
        from rich.console import Console

        console = Console(highlight=False, width=max(120, _width(console, table)))
    console.print(table)


def _exit_for(outcomes) -> None:
    from .report import err_console

    interrupted = [o for o in outcomes if o.status == "interrupted"]
    if interrupted:
        err_console.print(f"interrupted: {interrupted[0].error}", markup=False)
        sys.exit(EXIT_INTERRUPTED)
    if any(o.status != "completed" for o in outcomes):
        sys.exit(EXIT_RUN_FAILED)


def _refuse_options_resume_ignores(seed, only) -> None:
    """A resumed run keeps its folder, seed and variant: options that would choose others are errors."""
    from click.core import ParameterSource

    source = click.get_current_context().get_parameter_source
    given = [name for name, used in (("--seed", seed is not None), ("--only", bool(only)),
                                     ("--output-dir", source("output_dir") == ParameterSource.COMMANDLINE)) if used]
    if given:
        from .errors import ConfigError

        raise ConfigError(f"{', '.join(given)} cannot be used with --resume: the run keeps its own folder, "
                          "seed and variant (change its config with --set KEY=VALUE --force)")


def _resume(experiment_file, resume_dir, overrides, force, device, data_dir, quiet, devices) -> None:
    from .config import load_experiment

    experiment = load_experiment(experiment_file) if experiment_file else None
    _select_device(device)
    from .report import ConsoleReporter, err_console
    from .runner import resume_run

    _check_device(device)
    outcome = resume_run(resume_dir, overrides=overrides, force=force, experiment=experiment, data_dir=data_dir,
                         reporter=ConsoleReporter(quiet=quiet), devices=devices)
    if outcome.status == "completed" and outcome.error:
        err_console.print(f"{resume_dir}: {outcome.error}")
        return
    _print_runs_table([outcome])
    _exit_for([outcome])


@cli.command()
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
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
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
    from . import compare as compare_
    from .report import err_console

    comparison = compare_.compare(paths, metrics=metrics, columns=columns, per_run=per_run, root=output_dir)
    if plot:
        compare_.plot_curves(comparison, plot, [comparison.metric, *metrics[1:]])
        err_console.print(f"curves written to {plot}")
    if fmt == "table":
        _print_table(compare_.render_table(comparison))
    else:
        click.echo(compare_.render(comparison, fmt), nl=False)


@cli.command()
@click.argument("runs", nargs=-1, metavar="RUN_FOLDER...")
@click.option("--output-dir", "-o", type=click.Path(file_okay=False),
              help="Where the ensemble's run folder is written: OUTPUT_DIR/<experiment>/<time>-<variant>-ensemble/ "
                   "(default: the members' OUTPUT_DIR, so that it sits beside them).")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="Folder with data files; searched before $NNX_DATA_DIR and ~/.cache/nnx.")
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu", "tpu"]), default="auto", show_default=True,
              help="Where to run the members.")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
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
    from .report import err_console

    _select_device(device)
    _check_device(device)
    from . import ensemble as ensemble_
    from .compare import table_from_runs
    from .report import ConsoleReporter
    from .runner import InterruptFlag

    # Ctrl-C is caught as a flag and acted on between members: raised anywhere, it can land in
    # one of JAX's garbage-collection callbacks, where Python ignores it.
    with InterruptFlag(ConsoleReporter(), "Ctrl-C: stopping after this member; nothing will be written") as stop:
        result = ensemble_.ensemble(runs, output_dir=output_dir, data_dir=data_dir, should_stop=stop,
                                    progress=lambda text: err_console.print(f"scoring {text}", markup=False))
    err_console.print(f"ensemble written to {result.folder}", markup=False)
    _print_table(table_from_runs([*runs, result.folder], title="members and their ensemble"))


def _width(console, renderable) -> int:
    return console.measure(renderable, options=console.options.update_width(100_000)).maximum


def _print_plan(experiment, output_dir) -> None:
    click.echo(f"{experiment.name}: {len(experiment.runs)} run(s) into {output_dir}/{experiment.name}/")
    from .models import is_network

    for spec in experiment.runs:
        opt = spec.training.optimizer
        how = (f"{spec.training.epochs} epochs, {opt.name} lr {opt.learning_rate:g}, batch {spec.training.batch_size}"
               if is_network(spec.model) else "fitted in closed form (no training loop)")
        click.echo(f"  {spec.run_name:<24} {spec.model.type:<10} {spec.data.name:<14} seed {spec.seed:<4} {how}")


@cli.command("count-params")
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
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def count_params(arch, list_, fmt, depth, convention, input_features, input_shape, classes, vocab_size, hidden,
                 options, variant, debug):
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
    from .params import run_cli

    run_cli(arch, list_=list_, fmt=fmt, depth=depth, convention=convention, input_features=input_features,
            input_shape=input_shape, classes=classes, vocab_size=vocab_size, hidden=hidden, options=options,
            variant=variant)


def main(argv: list[str] | None = None) -> None:
    """Entry point: turns nnx's errors into one-line messages and exit codes."""
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        cli.main(args=argv, prog_name="nnx", standalone_mode=False)
    except click.exceptions.Abort:  # Click's form of Ctrl-C
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as e:
        from .errors import NnxError

        if debug:
            raise
        from .report import print_error

        if isinstance(e, NnxError):
            print_error(str(e))
            sys.exit(e.exit_code)
        print_error(f"internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback, "
                    "and please report it)")
        sys.exit(EXIT_RUN_FAILED)


if __name__ == "__main__":
    main()
