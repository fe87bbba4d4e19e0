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


def _check_device(device: str) -> None:
    import jax

    backend = jax.default_backend()
    if device in ("gpu", "tpu") and backend != device:
        from .errors import ConfigError

        raise ConfigError(f"--device {device}: no {device.upper()} visible to JAX (it sees: {backend}); "
                          f"install JAX with {device.upper()} support or use --device cpu")


@cli.command()
@click.argument("experiment_file", type=click.Path(dir_okay=True, path_type=str))
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
@click.option("--dry-run", is_flag=True, help="List the runs that would be made, and exit.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors and the final table.")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def train(experiment_file, output_dir, data_dir, overrides, seed, only, device, dry_run, quiet, debug):
    """Train every variant and seed of EXPERIMENT_FILE, each into its own run folder.

    \b
    Examples:
      nnx train experiments/quickstart.yaml
      nnx train experiments/mnist_regularization.yaml --only dropout --set training.epochs=10
      nnx train experiments/mnist_mlp.yaml --dry-run
    """
    from .config import load_experiment

    experiment = load_experiment(experiment_file, overrides=overrides, seed=seed, only=only)
    if dry_run:
        _print_plan(experiment, output_dir)
        return
    _select_device(device)
    from .report import ConsoleReporter, out_console, outcomes_table
    from .runner import run_experiment

    _check_device(device)
    outcomes = run_experiment(experiment, output_dir=output_dir, data_dir=data_dir,
                              reporter=ConsoleReporter(quiet=quiet), debug=debug)
    out_console.print(outcomes_table(outcomes))
    failed = [o for o in outcomes if o.status != "completed"]
    if failed:
        sys.exit(EXIT_RUN_FAILED)


def _print_plan(experiment, output_dir) -> None:
    click.echo(f"{experiment.name}: {len(experiment.runs)} run(s) into {output_dir}/{experiment.name}/")
    for spec in experiment.runs:
        opt = spec.training.optimizer
        model = spec.model.type
        click.echo(f"  {spec.run_name:<24} {model:<10} {spec.data.name:<14} seed {spec.seed:<4} "
                   f"{spec.training.epochs} epochs, {opt.name} lr {opt.learning_rate:g}, batch {spec.training.batch_size}")


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
    except click.exceptions.Abort:
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
